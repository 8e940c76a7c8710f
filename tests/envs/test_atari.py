"""The host-side Atari 100k environment against ALE itself: a second emulator stepped frame by frame by hand is
the reference for pooled observations, rewards, the frame cap and the final observation of an ended episode.

Breakout's minimal action set is (NOOP, FIRE, RIGHT, LEFT): FIRE serves the ball, a missed ball costs one of the
5 lives, and without FIRE the ball is never served, so a NOOP-only Breakout episode never ends. With
``noop_max=0`` a reset is ALE's ``reset_game`` alone, so the environment and the reference start from the same
emulator state.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys

import numpy as np
import pytest

from envs.atari import ATARI100K_GAMES, AtariVecEnv, make_atari, resize_frame, rom_id

needs_ale = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None,
                               reason='ale-py missing: pip install -e ".[atari]"')
NOOP, FIRE, RIGHT, LEFT = 0, 1, 2, 3  # indices into Breakout's minimal action set


def _reference(game: str):
    """A bare ALE emulator of ``game``: one frame per ``act``, no sticky actions, no frame cap."""
    import ale_py

    ale = ale_py.ALEInterface()
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setInt("frame_skip", 1)
    ale.loadROM(ale_py.roms.get_rom_path(rom_id(game)))
    ale.reset_game()
    return ale


def _reference_step(ale, action, frame_skip=4, last_frame=None):
    """Step ``ale`` by hand, keeping every frame. -> (expected observation before resizing, reward, ended).

    The rule under test: the max of the step's last two frames; only the frame where the episode ended if it
    ended before the step's last frame. ``last_frame``: the episode frame number of a frame cap (None: none).
    """
    frames, reward, ended = [], 0, False
    for _ in range(frame_skip):
        reward += ale.act(action)
        frames.append(ale.getScreenRGB().copy())
        ended = ale.game_over() or (last_frame is not None and ale.getEpisodeFrameNumber() >= last_frame)
        if ended:
            break
    pooled = np.maximum(frames[-2], frames[-1]) if len(frames) == frame_skip >= 2 else frames[-1]
    return pooled, reward, ended


def test_unknown_game_lists_the_26_games():
    with pytest.raises(ValueError, match=r"unknown Atari 100k game 'Pacman'; valid: Alien, Amidar, .*UpNDown"):
        AtariVecEnv("Pacman", 1, 0)
    with pytest.raises(ValueError, match="unknown Atari 100k game 'breakout'"):
        make_atari("atari/breakout", 1, 0)
    assert len(ATARI100K_GAMES) == 26


def test_missing_ale_py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # makes ``import ale_py`` raise ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[atari\]"'):
        AtariVecEnv("Pong", 1, 0)


def test_resize_frame_worked_value():
    # 210 x 160 frame in four quadrants, rows split at 105, columns at 80. Both splits fall on output pixel
    # borders (105 / 210 * 64 = 32 and 80 / 160 * 64 = 32), so every output pixel averages one quadrant only:
    # each 32 x 32 output quadrant equals its input value exactly.
    frame = np.zeros((210, 160, 3), np.uint8)
    frame[:105, :80], frame[:105, 80:], frame[105:, :80], frame[105:, 80:] = 10, 20, 30, 40
    out = resize_frame(frame, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    expected = np.zeros((64, 64, 3), np.uint8)
    expected[:32, :32], expected[:32, 32:], expected[32:, :32], expected[32:, 32:] = 10, 20, 30, 40
    np.testing.assert_array_equal(out, expected)


@needs_ale
def test_rom_names_and_minimal_action_sets():
    from ale_py import roms

    assert rom_id("MsPacman") == "ms_pacman" and rom_id("UpNDown") == "up_n_down"
    assert all(roms.get_rom_path(rom_id(game)) is not None for game in ATARI100K_GAMES)
    for game, n in (("Pong", 6), ("Breakout", 4), ("MsPacman", 9), ("Seaquest", 18)):
        env = AtariVecEnv(game, 1, 0)
        assert env.action_space().n == n
        assert list(env.action_set) == list(_reference(game).getMinimalActionSet())
        env.close()


@needs_ale
def test_spaces_and_shapes():
    env = make_atari("atari/Pong", 3, 0)
    space = env.observation_space()
    assert space.shape == (64, 64, 3) and np.dtype(space.dtype) == np.uint8 and (space.low, space.high) == (0, 255)
    obs = env.reset()
    assert obs.shape == (3, 64, 64, 3) and obs.dtype == np.uint8
    obs, reward, terminated, truncated, info = env.step(np.zeros(3, np.int64))
    assert reward.dtype == np.float32 and terminated.dtype == bool and truncated.dtype == bool
    assert info["lives"].dtype == np.int32 and info["episode_length"].dtype == np.int32
    assert {k: v.shape for k, v in info.items()} == {
        "final_obs": (3, 64, 64, 3), "is_first": (3,), "episode_return": (3,), "episode_length": (3,),
        "episode_done": (3,), "lives": (3,)}
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 5\]"):
        env.step(np.full(3, 6))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(np.zeros(2, np.int64))
    with pytest.raises(RuntimeError, match="reset"):
        AtariVecEnv("Pong", 1, 0).step(np.zeros(1, np.int64))
    env.close()
    with pytest.raises(RuntimeError, match="close"):
        env.step(np.zeros(3, np.int64))
    with pytest.raises(RuntimeError, match="close"):
        env.reset()


@needs_ale
def test_max_pool_of_last_two_frames_matches_hand_stepped_emulator():
    env, ref = AtariVecEnv("Breakout", 1, 0, noop_max=0), _reference("Breakout")
    np.testing.assert_array_equal(env.reset()[0], resize_frame(ref.getScreenRGB(), 64))
    rng = np.random.default_rng(0)
    actions = [FIRE] + list(rng.integers(0, 4, 79))
    pooling_mattered = 0
    for a in actions:
        expected, reward, ended = _reference_step(ref, env.action_set[a])
        assert not ended
        obs, r, terminated, truncated, _ = env.step(np.array([a]))
        np.testing.assert_array_equal(obs[0], resize_frame(expected, 64))
        assert r[0] == reward and not terminated[0] and not truncated[0]
        pooling_mattered += not np.array_equal(obs[0], resize_frame(ref.getScreenRGB(), 64))
    assert pooling_mattered > 0  # the last frame alone would differ: the test sees the pooling


@needs_ale
def test_noop_starts_count_single_frames_in_0_to_noop_max():
    env = AtariVecEnv("Pong", 8, 1)
    env.reset()
    frames = env.episode_frame_number  # a fresh episode has run exactly its no-op frames
    assert frames.min() >= 0 and frames.max() <= 30 and len(set(frames.tolist())) > 1
    env.reset()
    assert not np.array_equal(env.episode_frame_number, frames)  # every reset draws new no-ops
    env0 = AtariVecEnv("Pong", 2, 1, noop_max=0)
    env0.reset()
    np.testing.assert_array_equal(env0.episode_frame_number, 0)


@needs_ale
@pytest.mark.parametrize("max_frames", [42, 44])
def test_frame_cap_ends_the_episode_as_truncated(max_frames):
    # 4 frames per step: steps 1-10 reach frame 40. Step 11 runs frames 41-42 and stops at a cap of 42 (final
    # observation: frame 42 alone), or runs frames 41-44 at a cap of 44 (final observation: max of frames 43, 44).
    env, ref = AtariVecEnv("Breakout", 1, 0, noop_max=0, max_frames=max_frames), _reference("Breakout")
    first = env.reset()
    for step in range(1, 12):
        expected, reward, ended = _reference_step(ref, env.action_set[FIRE], last_frame=max_frames)
        obs, r, terminated, truncated, info = env.step(np.array([FIRE]))
        assert not terminated[0] and truncated[0] == ended == (step == 11)
    np.testing.assert_array_equal(info["final_obs"][0], resize_frame(expected, 64))
    assert info["is_first"][0] and info["episode_done"][0] and info["episode_length"][0] == 11
    np.testing.assert_array_equal(obs, first)  # auto-reset: the next episode's first observation
    assert env.episode_frame_number[0] == 0


@needs_ale
def test_life_loss_does_not_end_the_episode():
    env = AtariVecEnv("Breakout", 1, 0, noop_max=0)
    env.reset()
    lives = [5]
    for _ in range(400):  # FIRE every step: serve, never move; the first ball is missed within a few dozen steps
        _, _, terminated, truncated, info = env.step(np.array([FIRE]))
        assert not terminated[0] and not truncated[0] and not info["episode_done"][0]
        lives.append(int(info["lives"][0]))
        if lives[-1] < 5:
            break
    assert lives[-1] == 4 and lives[-2] == 5
    assert env.episode_frame_number[0] == 4 * (len(lives) - 1)  # same episode: no reset happened


@needs_ale
def test_game_over_final_observation_flags_and_auto_reset():
    # Environment 0 holds FIRE until Breakout's 5 lives are gone; environment 1 plays NOOP, so it never ends.
    env, ref = AtariVecEnv("Breakout", 2, 0, noop_max=0), _reference("Breakout")
    first = env.reset()
    total, steps = 0, 0
    while steps < 3000:
        expected, reward, ended = _reference_step(ref, env.action_set[FIRE])
        total, steps = total + reward, steps + 1
        obs, r, terminated, truncated, info = env.step(np.array([FIRE, NOOP]))
        if ended:
            break
        assert not terminated.any() and not truncated.any()
        np.testing.assert_array_equal(obs[0], resize_frame(expected, 64))
    assert ended, "Breakout did not end within 3000 steps of FIRE"
    np.testing.assert_array_equal(terminated, [True, False])
    np.testing.assert_array_equal(truncated, [False, False])
    np.testing.assert_array_equal(info["is_first"], [True, False])
    np.testing.assert_array_equal(info["episode_done"], [True, False])
    np.testing.assert_array_equal(info["final_obs"][0], resize_frame(expected, 64))  # the ended episode's last
    np.testing.assert_array_equal(info["final_obs"][1], obs[1])  # nothing ended: final_obs == obs
    np.testing.assert_array_equal(obs[0], first[0])  # the new episode's first observation
    assert info["episode_return"].tolist() == [total, 0.0] and info["episode_length"].tolist() == [steps, 0]
    assert info["lives"].tolist() == [5, 5]  # environment 0 restarted with 5 lives


@needs_ale
def test_deterministic_given_the_seed():
    def run(seed, num_envs, steps):
        env = AtariVecEnv("Breakout", num_envs, seed)
        out = [env.reset()]
        starts = env.episode_frame_number  # the no-op count of each environment's first episode
        rng = np.random.default_rng(7)
        for _ in range(steps):  # random Breakout episodes end within ~130-330 steps: resets with new no-ops
            obs, reward, terminated, truncated, info = env.step(rng.integers(0, 4, num_envs))
            out += [obs, reward, terminated, truncated, info["final_obs"], info["episode_return"]]
        return out + [env.episode_frame_number], starts

    (a, starts), (b, _) = run(3, 2, 300), run(3, 2, 300)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(np.any(x) for x in a[3::6] + a[4::6])  # some episode ended: auto-resets were compared too
    # Each environment's no-op stream depends on (seed, index) only, not on the batch size; other seeds differ.
    np.testing.assert_array_equal(run(3, 1, 0)[1], starts[:1])
    assert not np.array_equal(run(4, 2, 0)[1], starts)


@needs_ale
def test_snapshot_and_restore_continue_bit_for_bit():
    # A 200-frame cap ends an episode every 50 agent steps, so the 120 steps after the snapshot cross resets
    # (fresh no-op draws from the restored generators) as well as plain steps.
    env = AtariVecEnv("Breakout", 2, 5, max_frames=200)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        env.step(rng.integers(0, 4, 2))
    snapshot = env.snapshot()
    actions = rng.integers(0, 4, (120, 2))

    def play():
        out = []
        for a in actions:
            obs, reward, terminated, truncated, info = env.step(a)
            out += [obs, reward, terminated, truncated, info["final_obs"], info["episode_return"], info["lives"]]
        return out

    first = play()
    env.restore(pickle.loads(pickle.dumps(snapshot)))  # as the host runner stores it
    second = play()
    assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))
    assert any(np.any(x) for x in first[3::7])  # truncations (and their resets) were replayed too
    with pytest.raises(ValueError, match="cannot restore"):
        AtariVecEnv("Pong", 2, 5).restore(snapshot)


@needs_ale
def test_registry_handle_builds_seeded_emulators():
    import envs

    handle, params = envs.make("atari100k/Pong", size=32)
    assert params is None and handle.host_side and handle.name == "atari100k/Pong"
    assert handle.observation_space().shape == (32, 32, 3) and handle.action_space().n == 6
    vec = handle.vec(3, seed=1)
    assert vec.num_envs == 3 and vec.reset().shape == (3, 32, 32, 3)
    with pytest.raises(ValueError, match="valid:.*size"):
        envs.make("atari100k/Pong", sise=32)
    with pytest.raises(ValueError, match="meta/ wraps jittable JAX environments only"):
        envs.make("meta/atari100k/Pong")
