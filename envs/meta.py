"""Meta-RL wrapper: turns any protocol environment into a distribution of tasks played over several trials.

Per meta-episode (at ``reset``) a task is drawn: a random linear projection ``W`` (float32 [obs_dim, d_in],
entries ~ N(0, 1/d_in)) of the flattened inner observation (one-hot for Discrete, concatenated one-hots for
MultiDiscrete, flattened for Box), and a random action permutation per discrete action dimension (Discrete or
MultiDiscrete) or a random orthogonal matrix for Box actions (the inner action is ``clip(Q @ a, low, high)``).
The task stays fixed for ``num_trials`` trials; the inner environment is reset at every trial start with a
fresh key, so hidden randomness drawn at the inner reset (deck orders, bandit arms, boards) differs between
trials unless ``fixed_inner_reset=True``, which resets every trial of a meta-episode with the same key (same
arms / deck / board each trial: the classic bandit meta-RL setting). The inner params are not resampled: the
wrapper cannot know which of an arbitrary env's params are task parameters; randomise them in the inner env.

The policy sees ``concat(W @ x, prev_action_encoding, prev_reward, trial_start)`` (float32 [obs_dim + A + 2],
``A`` = sum of one-hot sizes for discrete actions, the action dimension for Box; ``prev_reward`` is multiplied by
``reward_scale`` (default 1); zeros and 0 at the meta-episode start; ``trial_start`` = 1.0 on the first
observation of every trial). Rewards are the inner rewards. ``terminated`` / ``truncated`` fire only at the end
of the last trial (carrying the inner flag of that step, so a trial cut by a time limit ends the meta-episode as
truncated): ``is_first`` happens only at the meta-episode start, and trial boundaries are visible to the policy
only through ``trial_start``.

``info``: ``trial`` int32 [] (the trial this step was taken in), ``trial_done`` bool [] (the step ended a trial),
``trial_return`` float32 [] (return of the trial that just ended, 0 elsewhere), ``trial_returns`` float32
[num_trials] (per-trial returns of the meta-episode so far, this step included). ``num_trials`` is a static
param: evaluate with more trials via ``params.replace(num_trials=k)`` (recompiles).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ssmrl.env import Box, Discrete, Environment, MultiDiscrete

Array = jax.Array


@struct.dataclass
class MetaParams:
    """inner: the inner environment's params; num_trials: trials per meta-episode; obs_dim: size of the
    projected observation; fixed_inner_reset: reset every trial of a meta-episode with the same key;
    reward_scale: factor on the previous reward *in the observation* (the reward itself is unchanged), for inner
    rewards too small to be read as an input (POPGym's bandit pays +-1/L: +-0.005 at L = 200)."""

    inner: Any
    num_trials: int = struct.field(pytree_node=False, default=2)
    obs_dim: int = struct.field(pytree_node=False, default=32)
    fixed_inner_reset: bool = struct.field(pytree_node=False, default=False)
    reward_scale: float = struct.field(pytree_node=False, default=1.0)


@struct.dataclass
class MetaTask:
    """obs_proj: float32 [obs_dim, d_in]; action_map: int32 [num_dims, max_n] permutations (discrete) or
    float32 [d_act, d_act] orthogonal matrix (Box); reset_key: the meta-episode's inner reset key."""

    obs_proj: Array
    action_map: Array
    reset_key: Array


@struct.dataclass
class MetaState:
    """inner: inner env state; task: the meta-episode's task; trial: int32 [] current trial;
    trial_returns: float32 [num_trials]; t: int32 [] steps in the meta-episode."""

    inner: Any
    task: MetaTask
    trial: Array
    trial_returns: Array
    t: Array


def _flatten_obs(obs: Array, space: Any) -> Array:
    if isinstance(space, Discrete):
        return jax.nn.one_hot(obs, space.n, dtype=jnp.float32).reshape(-1)
    if isinstance(space, MultiDiscrete):
        return jnp.concatenate([jax.nn.one_hot(obs[i], n, dtype=jnp.float32) for i, n in enumerate(space.nvec)])
    return jnp.asarray(obs, jnp.float32).reshape(-1)


def _flat_size(space: Any) -> int:
    if isinstance(space, Discrete):
        return space.n * int(np.prod(space.shape, dtype=int))
    if isinstance(space, MultiDiscrete):
        return int(sum(space.nvec))
    return int(np.prod(space.shape, dtype=int))


class MetaEnv(Environment):
    """``num_trials`` trials of ``inner`` per meta-episode under a random observation / action task."""

    def __init__(self, inner: Environment):
        self.inner = inner

    @property
    def name(self) -> str:
        return f"Meta{self.inner.name}"

    @property
    def default_params(self) -> MetaParams:
        return MetaParams(inner=self.inner.default_params)

    def _check(self, params: MetaParams) -> None:
        if not isinstance(params.num_trials, int) or params.num_trials < 1:
            raise ValueError(f"num_trials must be a positive int, got {params.num_trials!r}")
        if not isinstance(params.obs_dim, int) or params.obs_dim < 1:
            raise ValueError(f"obs_dim must be a positive int, got {params.obs_dim!r}")
        if not isinstance(params.reward_scale, (int, float)) or not np.isfinite(params.reward_scale):
            raise ValueError(f"reward_scale must be a finite number, got {params.reward_scale!r}")
        space = self.inner.action_space(params.inner)
        if isinstance(space, Discrete) and space.shape != ():
            raise ValueError(f"meta wrapper supports scalar Discrete actions, got shape {space.shape}")

    def _sample_task(self, key: Array, params: MetaParams) -> MetaTask:
        key_obs, key_act, key_reset = jax.random.split(key, 3)
        d_in = _flat_size(self.inner.observation_space(params.inner))
        obs_proj = jax.random.normal(key_obs, (params.obs_dim, d_in), jnp.float32) / np.sqrt(d_in)
        space = self.inner.action_space(params.inner)
        if isinstance(space, (Discrete, MultiDiscrete)):
            nvec = (space.n,) if isinstance(space, Discrete) else tuple(space.nvec)
            width = max(nvec)
            perms = []
            for k, n in zip(jax.random.split(key_act, len(nvec)), nvec, strict=True):
                perm = jax.random.permutation(k, n).astype(jnp.int32)
                perms.append(jnp.pad(perm, (0, width - n)))
            action_map = jnp.stack(perms)
        else:
            d_act = int(np.prod(space.shape, dtype=int))
            action_map = _haar_orthogonal(key_act, d_act)
        return MetaTask(obs_proj=obs_proj, action_map=action_map, reset_key=key_reset)

    def _inner_action(self, action: Array, task: MetaTask, params: MetaParams) -> Array:
        space = self.inner.action_space(params.inner)
        if isinstance(space, Discrete):
            return task.action_map[0, action]
        if isinstance(space, MultiDiscrete):
            return task.action_map[jnp.arange(len(space.nvec)), action].astype(jnp.int32)
        flat = task.action_map @ jnp.asarray(action, jnp.float32).reshape(-1)
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
        return jnp.clip(flat.reshape(space.shape), low, high)

    def _encode_action(self, action: Array, params: MetaParams) -> Array:
        return _flatten_obs(action, self.action_space(params))

    def _observe(self, inner_obs, task, prev_action_code, prev_reward, trial_start, params) -> Array:
        x = _flatten_obs(inner_obs, self.inner.observation_space(params.inner))
        scalars = jnp.stack([jnp.asarray(prev_reward, jnp.float32) * params.reward_scale,
                             jnp.asarray(trial_start, jnp.float32)])
        return jnp.concatenate([task.obs_proj @ x, prev_action_code, scalars])

    def reset(self, key: Array, params: MetaParams):
        """-> (obs float32 [obs_dim + A + 2], MetaState)."""
        self._check(params)
        key_task, key_inner = jax.random.split(key)
        task = self._sample_task(key_task, params)
        reset_key = task.reset_key if params.fixed_inner_reset else key_inner
        inner_obs, inner_state = self.inner.reset(reset_key, params.inner)
        state = MetaState(
            inner=inner_state,
            task=task,
            trial=jnp.zeros((), jnp.int32),
            trial_returns=jnp.zeros((params.num_trials,), jnp.float32),
            t=jnp.zeros((), jnp.int32),
        )
        no_action = jnp.zeros((_flat_size(self.action_space(params)),), jnp.float32)
        return self._observe(inner_obs, task, no_action, 0.0, 1.0, params), state

    def step(self, key: Array, state: MetaState, action: Array, params: MetaParams):
        """-> (obs float32 [obs_dim + A + 2], state, reward float32 [], terminated bool [], truncated bool [],
        info) with info as in the module docstring."""
        key_step, key_reset = jax.random.split(key)
        inner_action = self._inner_action(action, state.task, params)
        inner_obs, inner_state, reward, inner_term, inner_trunc, _ = self.inner.step(
            key_step, state.inner, inner_action, params.inner
        )
        trial_done = jnp.logical_or(inner_term, inner_trunc)
        trial_returns = state.trial_returns.at[state.trial].add(reward)
        meta_done = trial_done & (state.trial + 1 >= params.num_trials)
        new_trial = trial_done & ~meta_done

        reset_key = state.task.reset_key if params.fixed_inner_reset else key_reset
        reset_obs, reset_state = self.inner.reset(reset_key, params.inner)
        inner_obs = jax.tree.map(lambda a, b: jnp.where(new_trial, a, b), reset_obs, inner_obs)
        inner_state = jax.tree.map(lambda a, b: jnp.where(new_trial, a, b), reset_state, inner_state)

        obs = self._observe(inner_obs, state.task, self._encode_action(action, params), reward, new_trial, params)
        info = {
            "trial": state.trial,
            "trial_done": trial_done,
            "trial_return": jnp.where(trial_done, trial_returns[state.trial], 0.0),
            "trial_returns": trial_returns,
        }
        state = state.replace(
            inner=inner_state,
            trial=jnp.minimum(state.trial + trial_done.astype(jnp.int32), params.num_trials - 1),
            trial_returns=trial_returns,
            t=state.t + 1,
        )
        terminated = meta_done & inner_term
        truncated = meta_done & inner_trunc & ~inner_term
        return obs, state, reward.astype(jnp.float32), terminated, truncated, info

    def observation_space(self, params: MetaParams) -> Box:
        size = params.obs_dim + _flat_size(self.action_space(params)) + 2
        return Box(low=-np.inf, high=np.inf, shape=(size,))

    def action_space(self, params: MetaParams) -> Any:
        """The inner action space (actions are permuted / rotated inside, so the space is unchanged)."""
        return self.inner.action_space(params.inner)


def _haar_orthogonal(key: Array, dim: int) -> Array:
    """A Haar-distributed orthogonal matrix [dim, dim]: Gram-Schmidt on Gaussian columns (the Q of a QR with a
    positive diagonal R). Written without LAPACK: jax 0.10's CPU runtime was seen to hang when a LAPACK call ran
    beside an FFT in the same program, and the fused PPO program holds both for convolution-mode cores."""
    gauss = jax.random.normal(key, (dim, dim), jnp.float32)
    cols: list[Array] = []
    for i in range(dim):
        v = gauss[:, i]
        for q in cols:
            v = v - (q @ v) * q
        cols.append(v / jnp.sqrt(jnp.sum(v * v)))
    return jnp.stack(cols, axis=1)
