"""Host-side Atari 100k environment: ``num_envs`` ALE emulators stepped on the host with numpy.

This is not a jittable JAX environment (the emulators are C++ objects stepped from Python): ``envs.make(
"atari100k/<Game>")`` returns an :class:`Atari100k` handle that the host-side runner turns into emulators
(:class:`AtariVecEnv`, also built directly with :func:`make_atari`), stepped from a host loop. It keeps the
library's flag contract: ``terminated`` / ``truncated`` (never a bare ``done``), auto-reset with
``info["final_obs"]`` and ``info["is_first"] = terminated | truncated``, as ``ssmrl.env_wrappers.VecEnv``.

Protocol (Atari 100k as published agents use it):

* frame skip 4: one agent step repeats the action for 4 emulator frames and sums their rewards;
* the observation is the element-wise max over the RGB screens of the last two frames of the step (removes
  sprite flicker), resized to ``size x size`` with Pillow's BOX filter (an area average): uint8 [64, 64, 3] RGB.
  A step that ends the episode before its last frame observes only the frame where it ended; the first
  observation of an episode is the screen after the no-ops;
* sticky actions off (``repeat_action_probability = 0``), the minimal action set of the game;
* no-op starts: after each reset a uniform random number in [0, noop_max] of single-frame NOOPs;
* a cap of ``max_frames`` emulator frames per episode (108,000 = 27,000 agent steps), no-op frames included (ALE's
  ``max_num_frames_per_episode``); reaching it ends the episode as ``truncated``; the game's own end is
  ``terminated`` (which wins when both happen on the same frame);
* losing a life does not end the episode (``info["lives"]`` reports the count); rewards are unclipped, so the
  episode return is the raw game score that human-normalised scores use (``ssmrl.benchmark.atari_scores``).

Why N ``ale_py.ALEInterface`` instances in a Python loop rather than ``ale_py.vector_env.AtariVectorEnv``: the
vector env (ale-py 0.12.1, C++ threads, ``autoreset_mode="SameStep"``) gives final observations, flags, no-op
starts and 64x64 RGB, but (1) its step stops capturing screens once the episode ends inside a frame skip, so the
final observation of every ended episode is stale: the previous step's pooled frame max-ed with at most one new
frame (measured: a 50-frame cap returns exactly the previous observation as ``final_obs``); that is the
observation a world model learns termination from and truncation bootstraps from; (2) its no-op count is
uniform in [0, noop_max - 1]; (3) it resizes with OpenCV inside its C++ code, so its frames cannot be compared
with a hand-stepped reference emulator without reimplementing that resize. Stepping
the emulators here is exact and testable, at a modest cost in speed: Pong with random actions on 2 shared CPU
cores measured 1,100-1,900 env steps/s for 8 or 16 environments against the vector env's 1,200-2,100 (the range is
the load of the shared machine; ``ALEInterface.act`` holds the GIL, so the emulators run one at a time, and about
40% of a step is the Pillow resize).

Determinism: everything follows from ``seed``: ``numpy.random.SeedSequence(seed).spawn(num_envs)`` gives each
emulator its own no-op generator and ALE seed, so environment ``i``'s episodes depend only on ``(seed, i)`` and
the actions it receives.
"""

from __future__ import annotations

import re
from typing import Any

import jax.numpy as jnp
import numpy as np

from ssmrl.env import Box, Discrete

ATARI100K_GAMES = (
    "Alien", "Amidar", "Assault", "Asterix", "BankHeist", "BattleZone", "Boxing", "Breakout", "ChopperCommand",
    "CrazyClimber", "DemonAttack", "Freeway", "Frostbite", "Gopher", "Hero", "Jamesbond", "Kangaroo", "Krull",
    "KungFuMaster", "MsPacman", "Pong", "PrivateEye", "Qbert", "RoadRunner", "Seaquest", "UpNDown",
)

_INSTALL_HINT = 'pip install -e ".[atari]"'


def check_game(game: str) -> str:
    """``game`` if it is one of the 26 Atari 100k games (``ATARI100K_GAMES``), else a ``ValueError`` listing them."""
    if game not in ATARI100K_GAMES:
        raise ValueError(f"unknown Atari 100k game {game!r}; valid: {', '.join(ATARI100K_GAMES)}")
    return game


def rom_id(game: str) -> str:
    """The ALE ROM name of an Atari 100k game: ``"MsPacman" -> "ms_pacman"``, ``"UpNDown" -> "up_n_down"``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", check_game(game)).lower()


def _import_ale() -> Any:
    try:
        import ale_py
    except ImportError as err:
        raise ImportError(f"envs.atari needs ale-py (the ROMs ship with it): {_INSTALL_HINT}") from err
    return ale_py


def _import_pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(f"envs.atari needs Pillow to resize frames: {_INSTALL_HINT}") from err
    return Image


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """frame uint8 [H, W, 3] -> uint8 [size, size, 3], Pillow's BOX filter (each output pixel is the mean of the
    input pixels whose centres fall inside its footprint). A frame already ``size x size`` is returned as is."""
    if frame.shape[:2] == (size, size):
        return frame
    image = _import_pillow()
    return np.asarray(image.fromarray(frame).resize((size, size), image.Resampling.BOX))


class AtariVecEnv:
    """``num_envs`` auto-resetting Atari emulators with the Atari 100k protocol (module docstring).

    Arrays are numpy, batch-major, B = ``num_envs``:

    * ``reset() -> obs`` uint8 [B, size, size, 3]: starts a fresh episode in every environment.
    * ``step(actions)`` with ``actions`` int [B] in ``{0, ..., action_space().n - 1}`` (indices into the minimal
      action set ``action_set``) -> ``(obs, reward, terminated, truncated, info)``: ``obs`` uint8
      [B, size, size, 3] (already the new episode's first observation where one ended), ``reward`` float32 [B]
      (raw game points over the step's frames), ``terminated`` bool [B] (game over), ``truncated`` bool [B]
      (the ``max_frames`` cap, never together with ``terminated``). ``info``:
      ``final_obs`` uint8 [B, size, size, 3] (the step's own observation before any reset: equal to ``obs``
      where nothing ended), ``is_first`` bool [B] (= terminated | truncated: ``obs`` starts an episode),
      ``episode_return`` float32 [B], ``episode_length`` int32 [B] (agent steps), ``episode_done`` bool [B]
      (the episode that ended at this step; 0 elsewhere), ``lives`` int32 [B] (the game's life counter at ``obs``).
    * ``observation_space()`` -> ``Box`` uint8 [size, size, 3] in [0, 255]; ``action_space()`` ->
      ``Discrete(len(action_set))``. Both accept and ignore a ``params`` argument, as the jittable envs' do.
    * ``episode_frame_number`` int64 [B]: emulator frames of each current episode, no-ops included.
    * ``close()`` frees the emulators.

    Raises ``ValueError`` for a game outside ``ATARI100K_GAMES`` (listing them) or invalid settings, and
    ``ImportError`` naming ``pip install -e ".[atari]"`` when ale-py is missing.
    """

    def __init__(self, game: str, num_envs: int, seed: int, *, frame_skip: int = 4, noop_max: int = 30,
                 max_frames: int = 108_000, size: int = 64):
        check_game(game)
        for name, value, low in (("num_envs", num_envs, 1), ("frame_skip", frame_skip, 1), ("size", size, 1),
                                 ("noop_max", noop_max, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(max_frames, int) or max_frames <= noop_max:
            raise ValueError(f"max_frames must be an int > noop_max ({noop_max}), got {max_frames!r}")
        ale_py = _import_ale()
        _import_pillow()
        self.game, self.num_envs, self.frame_skip = game, num_envs, frame_skip
        self.noop_max, self.max_frames, self.size = noop_max, max_frames, size

        seeds = np.random.SeedSequence(seed).spawn(num_envs)
        self._rngs = [np.random.default_rng(s) for s in seeds]
        rom = ale_py.roms.get_rom_path(rom_id(game))
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self._ales = []
        for s in seeds:
            ale = ale_py.ALEInterface()
            ale.setInt("random_seed", int(s.generate_state(1)[0] >> 1))  # ALE takes a non-negative int32
            ale.setFloat("repeat_action_probability", 0.0)
            ale.setInt("frame_skip", 1)
            ale.setInt("max_num_frames_per_episode", max_frames)
            ale.loadROM(rom)
            self._ales.append(ale)
        self._noop = ale_py.Action.NOOP
        self.action_set = tuple(self._ales[0].getMinimalActionSet())
        height, width = self._ales[0].getScreenDims()
        self._frames = np.zeros((num_envs, 2, height, width, 3), np.uint8)
        self._obs = np.zeros((num_envs, size, size, 3), np.uint8)
        self._return = np.zeros(num_envs, np.float64)
        self._length = np.zeros(num_envs, np.int64)
        self._started = False

    # -- spaces ------------------------------------------------------------------------------------------------

    def observation_space(self, params: Any = None) -> Box:
        return Box(low=0, high=255, shape=(self.size, self.size, 3), dtype=jnp.uint8)

    def action_space(self, params: Any = None) -> Discrete:
        return Discrete(len(self.action_set))

    @property
    def episode_frame_number(self) -> np.ndarray:
        return np.array([ale.getEpisodeFrameNumber() for ale in self._ales], np.int64)

    # -- one emulator ------------------------------------------------------------------------------------------

    def _reset_one(self, i: int) -> None:
        ale, frame = self._ales[i], self._frames[i, 0]
        ale.reset_game()
        for _ in range(int(self._rngs[i].integers(0, self.noop_max + 1))):
            ale.act(self._noop)
            if ale.game_over():
                ale.reset_game()
        ale.getScreenRGB(frame)
        self._obs[i] = resize_frame(frame, self.size)
        self._return[i], self._length[i] = 0.0, 0

    def _step_one(self, i: int, action: Any) -> tuple[float, bool, bool]:
        ale, frames = self._ales[i], self._frames[i]
        reward, captured, first_pooled = 0.0, 0, self.frame_skip - 2
        for k in range(self.frame_skip):
            reward += ale.act(action)
            ended = ale.game_over()  # the game's end or the frame cap
            if k >= first_pooled or ended:
                ale.getScreenRGB(frames[captured])
                captured += 1
            if ended:
                break
        pooled = np.maximum(frames[0], frames[1]) if captured == 2 else frames[0]
        self._obs[i] = resize_frame(pooled, self.size)
        terminated = bool(ale.game_over(with_truncation=False))
        truncated = not terminated and bool(ale.game_truncated())
        return reward, terminated, truncated

    # -- batch -------------------------------------------------------------------------------------------------

    def reset(self) -> np.ndarray:
        """-> obs uint8 [B, size, size, 3], the first observation of a fresh episode in every environment."""
        if not self._ales:
            raise RuntimeError("AtariVecEnv.reset after close()")
        for i in range(self.num_envs):
            self._reset_one(i)
        self._started = True
        return self._obs.copy()

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """actions int [B] -> (obs, reward, terminated, truncated, info); see the class docstring."""
        if not self._started:
            raise RuntimeError("AtariVecEnv.step before reset() or after close(); call reset() first")
        actions = np.asarray(actions)
        n = len(self.action_set)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be an int array of shape ({self.num_envs},), got "
                             f"{actions.dtype} {actions.shape}")
        if actions.min() < 0 or actions.max() >= n:
            raise ValueError(f"actions must lie in [0, {n - 1}] (the minimal action set), got {actions}")
        batch = self.num_envs
        reward = np.zeros(batch, np.float32)
        terminated, truncated = np.zeros(batch, bool), np.zeros(batch, bool)
        final_obs = np.empty_like(self._obs)
        episode_return, episode_length = np.zeros(batch, np.float32), np.zeros(batch, np.int32)
        for i in range(batch):
            reward[i], terminated[i], truncated[i] = self._step_one(i, self.action_set[actions[i]])
            self._return[i] += reward[i]
            self._length[i] += 1
            final_obs[i] = self._obs[i]
            if terminated[i] or truncated[i]:
                episode_return[i], episode_length[i] = self._return[i], self._length[i]
                self._reset_one(i)
        done = terminated | truncated
        info = {
            "final_obs": final_obs,
            "is_first": done.copy(),
            "episode_return": episode_return,
            "episode_length": episode_length,
            "episode_done": done,
            "lives": np.array([ale.lives() for ale in self._ales], np.int32),
        }
        return self._obs.copy(), reward, terminated, truncated, info

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit (picklable): each emulator's state with its RNG, each no-op
        generator's state, the current observations and the running episode statistics."""
        if not self._started:
            raise RuntimeError("AtariVecEnv.snapshot before reset() or after close()")
        return {"ale": [ale.cloneState(include_rng=True) for ale in self._ales],
                "rng": [rng.bit_generator.state for rng in self._rngs],
                "obs": self._obs.copy(), "return": self._return.copy(), "length": self._length.copy(),
                "game": self.game, "num_envs": self.num_envs}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Return to the moment of ``snapshot`` (from :meth:`snapshot` of an environment with the same game and
        ``num_envs``); ``ValueError`` if it belongs to another one."""
        if (snapshot.get("game"), snapshot.get("num_envs")) != (self.game, self.num_envs):
            raise ValueError(f"snapshot of {snapshot.get('game')} x {snapshot.get('num_envs')} cannot restore "
                             f"{self.game} x {self.num_envs}")
        if not self._ales:
            raise RuntimeError("AtariVecEnv.restore after close()")
        for ale, state in zip(self._ales, snapshot["ale"], strict=True):
            ale.restoreState(state)
        for rng, state in zip(self._rngs, snapshot["rng"], strict=True):
            rng.bit_generator.state = state
        self._obs[:], self._return[:], self._length[:] = snapshot["obs"], snapshot["return"], snapshot["length"]
        self._started = True

    def close(self) -> None:
        """Free the emulators; ``reset`` and ``step`` raise ``RuntimeError`` afterwards."""
        self._ales = []
        self._started = False


class Atari100k:
    """The catalog's handle on one Atari 100k game (``envs.make("atari100k/<Game>")``): a host-side environment
    (``host_side = True``), so algorithms build the vectorised emulators themselves with :meth:`vec`, as many as
    they step and seeded from the run's seed. ``kwargs`` are the protocol settings of :class:`AtariVecEnv`."""

    host_side = True

    def __init__(self, game: str, **kwargs: Any):
        self.game, self.kwargs = check_game(game), kwargs
        valid = ("frame_skip", "noop_max", "max_frames", "size")
        bad = sorted(set(kwargs) - set(valid))
        if bad:
            raise ValueError(f"atari100k/{game}: unknown protocol setting(s) {bad}; valid: {list(valid)}")
        try:
            _import_ale()
            _import_pillow()
        except ImportError as err:  # the catalog reports ValueErrors as one line
            raise ValueError(str(err)) from None

    @property
    def name(self) -> str:
        return f"atari100k/{self.game}"

    def observation_space(self, params: Any = None) -> Box:
        size = self.kwargs.get("size", 64)
        return Box(low=0, high=255, shape=(size, size, 3), dtype=jnp.uint8)

    def action_space(self, params: Any = None) -> Discrete:
        """``Discrete`` over the game's minimal action set (read from the ROM once)."""
        if not hasattr(self, "_num_actions"):
            ale_py = _import_ale()
            ale = ale_py.ALEInterface()
            ale.setLoggerMode(ale_py.LoggerMode.Error)
            ale.loadROM(ale_py.roms.get_rom_path(rom_id(self.game)))
            self._num_actions = len(ale.getMinimalActionSet())
        return Discrete(self._num_actions)

    def vec(self, num_envs: int, seed: int) -> AtariVecEnv:
        """``num_envs`` emulators of this game seeded from ``seed`` (see :class:`AtariVecEnv`)."""
        return AtariVecEnv(self.game, num_envs, seed, **self.kwargs)


def make_atari(name: str, num_envs: int, seed: int, **kwargs: Any) -> AtariVecEnv:
    """``AtariVecEnv`` from a game name, bare (``"Pong"``) or suite-prefixed (``"atari/Pong"``); ``kwargs`` go to
    :class:`AtariVecEnv` (``frame_skip``, ``noop_max``, ``max_frames``, ``size``)."""
    game = name[len("atari/"):] if name.startswith("atari/") else name
    return AtariVecEnv(game, num_envs, seed, **kwargs)
