"""Open-loop evaluation of a trained world model on held-out episodes (S4WM's protocol): observe a context, then
imagine the rest of the episode with the prior and the data's own actions, and compare the decoded frames with the
true ones.

For episodes [T, N, ...] (fields of ``envs.wm_memory.WMEpisodes``) and a context length C (1 <= C < T):

* :func:`openloop_rollout`: ``observe`` steps 0 .. C-1 (posterior, the world model's parallel form), then for
  horizon k = 1 .. K = T - C, ``imagine_step`` from the latest latent with the TRUE action ``action[C + k - 1]``
  (the action taken before obs ``C + k - 1``; latents sampled from the prior, or with ``latents="mode"`` the
  prior's most likely latent: the single most likely imagination, which a memory test of a static world asks
  for, where samples add the prior's spread at every step and feed it back to the core), decode ``feat(h, z)`` into the
  prediction of frame ``C + k - 1``, and decode the reward head. Nothing of the episode after step C - 1 but the
  actions enters.
* frames in [0, 1]: the truth is ``obs / image_scale`` (uint8 frames: ``obs / 255``); the prediction is the
  decoded image (``obs / image_scale - image_shift`` space) plus ``image_shift``, clipped to [0, 1].
* tiles (observations int [H, W] of n tile classes, ``ssmrl.world_model.tiles``): the prediction is the decoded
  per-cell log-probabilities [H, W, n], scored against the true tiles by ``tiles.tile_scores``: ``mse`` (of the
  probabilities against the one-hot tiles), ``xent`` (per-cell cross-entropy, nats) and ``tile_acc`` (fraction
  of cells whose most likely tile is right), each per frame, with curves and marked curves as the MSE's.
* MSE vs horizon: ``mse[k - 1]`` = mean over episodes and pixels (H x W x C) of the squared error of frame
  ``C + k - 1``; the marked curves take the mean only over the episodes whose frame ``C + k - 1`` is flagged by
  :func:`marker_frames` (NaN where none is).
* reward prediction (:func:`reward_metrics`, tasks with rewards, e.g. CueReward): over the imagined steps, a step
  is predicted rewarded when the decoded reward exceeds 0.5 (the nearest of {0, 1}); hit rate at the truly
  rewarded steps, false-alarm rate at the others, their balanced accuracy, and the per-episode accuracy of the
  reward's timing (the step of the largest predicted reward is the first truly rewarded one).
* :func:`imagine_throughput`: imagined steps per second (B x K) of the jitted rollout against K.
* reference predictors without learning (mean frame, last context frame), scored on the same frames by
  :func:`error_curves`: ``ssmrl.world_model.references``.

The rollout samples with one key per call for the whole batch, so results depend on the key and on ``chunk``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ssmrl.world_model.model import WorldModel, dummy_inputs, features, obs_kind
from ssmrl.world_model.offline import time_compiled
from ssmrl.world_model.tiles import tile_scores

Array = jax.Array
REWARD_THRESHOLD = 0.5  # a predicted reward above it counts as "rewarded" (rewards here are 0 or 1)


@struct.dataclass
class Imagined:
    """An open-loop rollout: frames float32 [K, B, H, W, C] in [0, 1] (frames[k - 1] predicts obs[C + k - 1];
    tiles: per-cell log-probabilities [K, B, H, W, n]; None without decoding); reward float32 [K, B] (the decoded
    reward head at the same steps)."""

    frames: Array | None
    reward: Array


LATENTS = ("sample", "mode")  # how imagination picks the next latent from the prior


def openloop_rollout(world_model: WorldModel, params: Any, key: Array, obs: Array, action: Array,
                     is_first: Array, decode: bool = True, latents: str = "sample") -> Imagined:
    """Observe the context, imagine the rest with the true actions (module docstring).

    obs [C, B, *obs_shape], is_first bool [C, B]: the context; action [C + K, B, ...]: the previous action of
    every step of the episode (those of steps C .. C + K - 1 drive the imagination). ``split(key)[0]`` samples
    the posteriors, ``split(split(key)[1], K)[k - 1]`` the prior at horizon k (latents "sample"; "mode": the
    prior's most likely latent, no sampling). Returns :class:`Imagined` [K, B].
    """
    if latents not in LATENTS:
        raise ValueError(f"latents must be one of {list(LATENTS)}, got {latents!r}")
    context = obs.shape[0]
    horizon = action.shape[0] - context
    if context < 1 or horizon < 1:
        raise ValueError(f"need a context of >= 1 step and >= 1 imagined step, got C={context}, K={horizon}")
    key_obs, key_imagine = jax.random.split(key)
    carry = world_model.initialize_carry(obs.shape[1])
    observed = world_model.apply(params, key_obs, carry, obs, action[:context], is_first, method="observe")
    shift, tiles = world_model.image_shift, obs_kind(world_model.obs_spec) == "tiles"

    def frame_of(feat):
        decoded = world_model.apply(params, feat, method="decode").astype(jnp.float32)
        return jax.nn.log_softmax(decoded, axis=-1) if tiles else jnp.clip(decoded + shift, 0.0, 1.0)

    def step(state, inputs):
        carry, z = state
        key_k, action_k = inputs
        carry, h, z = world_model.apply(params, key_k, carry, z, action_k, latents == "mode",
                                        method="imagine_step")
        feat = features(h, z)
        reward = world_model.apply(params, feat, method="reward_value")
        return (carry, z), (frame_of(feat) if decode else None, reward.astype(jnp.float32))

    keys = jax.random.split(key_imagine, horizon)
    _, (frames, reward) = jax.lax.scan(step, (observed.carry, observed.carry.z), (keys, action[context:]))
    return Imagined(frames, reward)


def make_rollout(world_model: WorldModel, decode: bool = True, jit_options: dict | None = None,
                 latents: str = "sample") -> Callable:
    """Jitted ``(params, key, obs [C, B, ...], action [C + K, B, ...], is_first [C, B]) -> Imagined [K, B]``
    (``jit_options`` go to ``jax.jit``)."""
    if obs_kind(world_model.obs_spec) not in ("image", "tiles"):
        raise ValueError(f"open-loop frames need image observations (rank-3 Box) or tiles (a Discrete with a "
                         f"shape), got {world_model.obs_spec}")
    if latents not in LATENTS:
        raise ValueError(f"latents must be one of {list(LATENTS)}, got {latents!r}")
    return jax.jit(functools.partial(openloop_rollout, world_model, decode=decode, latents=latents),
                   **(jit_options or {}))


@jax.jit
def frame_mse(pred: Array, truth: Array) -> Array:
    """Per-frame MSE: pred, truth float [K, B, H, W, C] in [0, 1] -> float32 [K, B] (mean over pixels)."""
    return jnp.mean(jnp.square(pred.astype(jnp.float32) - truth.astype(jnp.float32)), axis=(-3, -2, -1))


def mse_curve(errors: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """errors float [K, N] (per-frame MSE), mask bool [K, N] -> float64 [K]: the mean over the episodes (those
    flagged at each k with a mask; NaN where none is)."""
    errors = np.asarray(errors, np.float64)
    if mask is None:
        return errors.mean(axis=1)
    mask = np.asarray(mask, bool)
    count = mask.sum(axis=1)
    total = np.where(mask, errors, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def error_curves(errors: np.ndarray, markers: dict, context: int, metric: str = "mse"
                 ) -> tuple[np.ndarray, dict, dict]:
    """The scores of per-frame errors float [K, N] (frame ``C + k - 1`` of episode n at [k - 1, n], C =
    ``context``) of episodes with ``markers`` ({name: int [N]}, T = C + K) -> (mse float64 [K] (:func:`mse_curve`),
    marked {name: float64 [K]} (the curves over :func:`marker_frames`' flagged frames), summary {``mse``: the mean
    over all K x N frames, ``mse_<name>``: over the flagged ones (NaN where none is)}). ``metric`` names the
    summary's keys for other per-frame scores (``xent``, ``tile_acc``)."""
    errors = np.asarray(errors)
    flagged = {name: m[context:] for name, m in marker_frames(markers, context + errors.shape[0]).items()}
    marked = {name: mse_curve(errors, m) for name, m in flagged.items()}
    summary = {metric: float(errors.mean())}
    for name, m in flagged.items():
        summary[f"{metric}_{name}"] = float(errors[m].mean()) if m.any() else float("nan")
    return mse_curve(errors), marked, summary


TILE_METRICS = ("xent", "tile_acc")  # tiles' scores beside the MSE (tiles.tile_scores)


def score_curves(scores: dict[str, np.ndarray], markers: dict, context: int) -> tuple[dict, dict]:
    """:func:`error_curves` of each per-frame score ({metric: float [K, N]}, e.g. the tiles' ``xent`` and
    ``tile_acc``) -> (curves {``<metric>``: float64 [K], ``<metric>_<marker>``: float64 [K]}, summary
    {``<metric>``, ``<metric>_<marker>``: float})."""
    curves, summary = {}, {}
    for metric, values in scores.items():
        curve, marked, part = error_curves(values, markers, context, metric)
        curves[metric] = curve
        curves.update({f"{metric}_{name}": v for name, v in marked.items()})
        summary.update(part)
    return curves, summary


def marker_frames(markers: dict, length: int) -> dict[str, np.ndarray]:
    """The frames each task's memory test is about, from ``WMEpisodes.markers`` ({name: int [N]}) -> {name: bool
    [T, N]} (an empty dict for a task without such frames, e.g. CueReward, whose test is the reward):

    * ``revisited`` (Revisit, ``revisit_step`` r): t > r, frame t shows the place of frame 2 r - t;
    * ``recalled`` (Teleport, ``teleport_step`` s): t >= s, the query phase that repeats earlier frames;
    * ``changed`` (ChangeWorld, ``return_step`` r, ``first_change_step``): t >= r in episodes with a change,
      the return through the world as the agent changed it.
    """
    t = np.arange(length)[:, None]
    get = lambda name: np.asarray(markers[name])[None, :]
    out = {}
    if "revisit_step" in markers:
        out["revisited"] = t > get("revisit_step")
    if "teleport_step" in markers:
        out["recalled"] = (t >= get("teleport_step")) & (get("teleport_step") >= 0)
    if "return_step" in markers:
        changed = get("first_change_step") >= 0 if "first_change_step" in markers else True
        out["changed"] = (t >= get("return_step")) & changed
    return out


def frame_gaps(markers: dict, length: int, context: int) -> np.ndarray:
    """The gap of each imagined frame of the memory test: the steps between the frame's last showing of what it
    must reproduce and the frame itself, from ``WMEpisodes.markers`` ({name: int [N]}) -> float64 [K, N] for the
    frames t = C .. T - 1 (K = T - C), NaN where the frame is not one of :func:`marker_frames`' or its gap is not
    known:

    * revisited (Revisit, ``revisit_step`` r): frame t > r shows the place of frame 2 r - t: gap 2 (t - r);
    * recalled (Teleport, ``teleport_step`` s, ``teleport_source`` p): frame t >= s repeats frame p + (t - s):
      gap s - p, the same for the whole query;
    * changed (ChangeWorld, ``return_step`` r, ``last_change_step`` c >= 0): frame t >= r shows the world as the
      last change left it: gap t - c.
    """
    t = np.arange(context, length, dtype=np.float64)[:, None]
    get = lambda name: np.asarray(markers[name], np.float64)[None, :]
    gaps = np.full((length - context, len(next(iter(markers.values()), []))), np.nan)
    if "revisit_step" in markers:
        gaps = np.where(t > get("revisit_step"), 2 * (t - get("revisit_step")), np.nan)
    elif "teleport_step" in markers and "teleport_source" in markers:
        s = get("teleport_step")
        gaps = np.where((t >= s) & (s >= 0), np.broadcast_to(s - get("teleport_source"), gaps.shape), np.nan)
    elif "return_step" in markers and "last_change_step" in markers:
        c = get("last_change_step")
        gaps = np.where((t >= get("return_step")) & (c >= 0), t - c, np.nan)
    return gaps


def default_context(markers: dict, length: int) -> int:
    """The context C that leaves exactly the memory test to imagination, clipped to 1 .. T - 1:

    Revisit: max(revisit_step) + 1 (the exploration; every imagined frame is a revisit); Teleport:
    max(teleport_step) + 1 (up to the first frame after the jump, whose place the actions cannot tell);
    ChangeWorld: min(return_step) (every change is seen, the return is imagined); CueReward: max(cue_last_seen)
    + 1 (the cue is seen, the corridor, its distractors and the pads are imagined); otherwise T // 2.
    """
    top = lambda name: int(np.max(np.asarray(markers[name])))
    if "revisit_step" in markers:
        context = top("revisit_step") + 1
    elif "teleport_step" in markers:
        context = top("teleport_step") + 1
    elif "return_step" in markers:
        context = int(np.min(np.asarray(markers["return_step"])))
    elif "cue_last_seen" in markers:
        context = top("cue_last_seen") + 1
    else:
        context = length // 2
    return int(np.clip(context, 1, length - 1))


def reward_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Reward prediction over imagined steps: pred, true float [K, N] (true rewards 0 / 1) -> {
    ``reward_hit_rate``: fraction of truly rewarded steps (true > 0.5) predicted > 0.5;
    ``reward_false_rate``: fraction of the other steps predicted > 0.5;
    ``reward_accuracy``: balanced accuracy (hit_rate + 1 - false_rate) / 2;
    ``reward_step_accuracy``: among episodes with a rewarded step, the fraction whose largest predicted reward
    falls on their first rewarded step;
    ``reward_mse``: mean squared error of the reward over all steps}. NaN where a rate has no steps."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    rewarded, said = true > REWARD_THRESHOLD, pred > REWARD_THRESHOLD
    rate = lambda hits, where: float(hits[where].mean()) if where.any() else float("nan")
    hit, false = rate(said, rewarded), rate(said, ~rewarded)
    episodes = rewarded.any(axis=0)
    timing = np.argmax(pred, axis=0) == np.argmax(rewarded, axis=0)
    return {"reward_hit_rate": hit, "reward_false_rate": false, "reward_accuracy": (hit + 1.0 - false) / 2,
            "reward_step_accuracy": rate(timing, episodes), "reward_mse": float(np.mean((pred - true) ** 2))}


@dataclasses.dataclass
class OpenLoopResult:
    """What :func:`evaluate` returns (host numpy arrays).

    context C, horizon K = T - C; errors float32 [K, N] per-frame MSE; mse float64 [K] (mean over episodes);
    marked {name: float64 [K]} the curves over :func:`marker_frames`' flagged frames; summary {name: float}:
    ``mse`` (mean over all imagined frames), ``mse_<name>`` (over the flagged ones) and, where the data has
    rewards, :func:`reward_metrics`; truth uint8 / pred float32 [K, S, H, W, C] and reward_true / reward_pred
    float32 [K, S] of the first S = ``keep`` episodes (for image strips), context_frames [C, S, ...] their context.
    Tiles: errors / mse the MSE of the per-cell probabilities (module docstring); summary also ``xent``,
    ``tile_acc`` and their ``_<marker>`` means; curves {``xent``, ``tile_acc``, ``<metric>_<marker>``: float64
    [K]} (:func:`score_curves`; empty for frames) and frame_scores {``xent``, ``tile_acc``: float [K, N]} per
    frame; truth / pred the true and the most likely tiles int [K, S, H, W].
    """

    context: int
    horizon: int
    errors: np.ndarray
    mse: np.ndarray
    marked: dict
    summary: dict
    truth: np.ndarray
    pred: np.ndarray
    context_frames: np.ndarray
    reward_true: np.ndarray
    reward_pred: np.ndarray
    curves: dict = dataclasses.field(default_factory=dict)
    frame_scores: dict = dataclasses.field(default_factory=dict)


def evaluate(world_model: WorldModel, params: Any, episodes: Any, key: Array, context: int | None = None,
             chunk: int | None = None, keep: int = 2, rollout: Callable | None = None) -> OpenLoopResult:
    """Open-loop evaluation on ``episodes`` ([T, N, ...] with ``markers``; module docstring).

    context: C (None: :func:`default_context` of the markers); chunk: episodes per rollout call (None: all at
    once; call i samples with ``fold_in(key, i)``); keep: episodes whose frames are returned for strips; rollout:
    ``(params, key, obs [C, B], action [T, B], is_first [C, B]) -> Imagined`` (default
    :func:`make_rollout`; a test may pass a fake one).
    """
    length, num = episodes.is_first.shape
    markers = getattr(episodes, "markers", None) or {}
    context = default_context(markers, length) if context is None else int(context)
    if not 1 <= context < length:
        raise ValueError(f"context={context} must be in 1..{length - 1} (episodes of T={length})")
    rollout = make_rollout(world_model) if rollout is None else rollout
    chunk = num if chunk is None else chunk
    scale, tiles = world_model.image_scale, obs_kind(world_model.obs_spec) == "tiles"
    errors, rewards, scores = [], [], {metric: [] for metric in TILE_METRICS} if tiles else {}
    for i, lo in enumerate(range(0, num, chunk)):
        part = slice(lo, min(lo + chunk, num))
        im = rollout(params, jax.random.fold_in(key, i), episodes.obs[:context, part], episodes.action[:, part],
                     episodes.is_first[:context, part])
        if tiles:  # log-probabilities [K, B, H, W, n] against the true tiles [K, B, H, W]
            frame_scores = jax.device_get(tile_scores(im.frames, jnp.asarray(episodes.obs[context:, part])))
            errors.append(frame_scores["mse"])
            for metric in scores:
                scores[metric].append(frame_scores[metric])
        else:
            truth = jnp.asarray(episodes.obs[context:, part], jnp.float32) / scale
            errors.append(np.asarray(frame_mse(im.frames, truth)))
        rewards.append(np.asarray(im.reward, np.float32))
        if i == 0:
            s = min(keep, part.stop - part.start)
            pred_kept = np.asarray(jnp.argmax(im.frames[:, :s], -1)) if tiles else np.asarray(im.frames[:, :s],
                                                                                               np.float32)
    errors, reward_pred = np.concatenate(errors, axis=1), np.concatenate(rewards, axis=1)
    mse, marked, summary = error_curves(errors, markers, context)
    frame_scores = {m: np.concatenate(v, axis=1) for m, v in scores.items()}
    curves, tile_summary = score_curves(frame_scores, markers, context)
    summary.update(tile_summary)
    reward_true = np.asarray(episodes.reward[context:], np.float32)
    if np.any(reward_true != 0):
        summary.update(reward_metrics(reward_pred, reward_true))
    s = pred_kept.shape[1]
    return OpenLoopResult(
        context=context, horizon=length - context, errors=errors, mse=mse, marked=marked,
        summary=summary, truth=np.asarray(episodes.obs[context:, :s]), pred=pred_kept,
        context_frames=np.asarray(episodes.obs[:context, :s]), reward_true=reward_true[:, :s],
        reward_pred=reward_pred[:, :s], curves=curves, frame_scores=frame_scores)


def imagine_throughput(world_model: WorldModel, params: Any, batch_size: int, horizons: list[int],
                       decode: bool = True, repeats: int = 3) -> list[dict[str, Any]]:
    """Speed of the jitted open-loop rollout (one observed step, then K imagined, zero inputs) for each K in
    ``horizons`` -> [{"K", "B", "decode", "steps_per_s" (B x K imagined steps per second, median of ``repeats``),
    "run_ms", "compile_s", "memory" (``ssmrl.xla_memory.compiled_memory``: XLA's plan)}]. ``decode``: decode the frames
    (what evaluation does) or only roll the latents and the reward head."""
    rollout = functools.partial(openloop_rollout, world_model, decode=decode)
    context = dummy_inputs(world_model, 1, batch_size)
    out = []
    for horizon in horizons:
        action = dummy_inputs(world_model, 1 + horizon, batch_size)["action"]
        args = (params, jax.random.key(0), context["obs"], action, context["is_first"])
        timing = time_compiled(rollout, args, repeats)
        out.append({"K": horizon, "B": batch_size, "decode": decode,
                    "steps_per_s": horizon * batch_size / timing["run_s"], "run_ms": 1e3 * timing["run_s"],
                    "compile_s": timing["compile_s"], "memory": timing["memory"]})
    return out
