"""Recurrent PPO as pure functions: ``init(key) -> TrainState``, ``update(state) -> (state, metrics)``,
``evaluate(key, state) -> metrics`` and ``agent_params(state)``, in the :class:`ssmrl.algorithm.Train` every
algorithm hands to the run layer (``ssmrl.runners``).

One update = one rollout of ``num_steps`` x ``num_envs`` steps, GAE, then ``num_epochs`` passes of
``num_minibatches`` gradient steps. Minibatches are drawn over *sequences* (environments, or environment x chunk
when ``chunk_len`` is set), never over time: each sequence is recomputed with the core's parallel ``__call__``
from the carry stored at its start. Gradient clipping by global norm and linear learning-rate annealing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from ssmrl.acting import ActingState, episode_metrics, make_evaluate_episodes
from ssmrl.algorithm import Health, Train
from ssmrl.config import ConfigError, RunConfig
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.ppo.config import PPOConfig
from ssmrl.ppo.losses import LossTerms, compute_gae, ppo_loss
from ssmrl.ppo.networks import ActorCritic, make_actor_critic
from ssmrl.ppo.rollout import init_rollout_state, make_policy, make_rollout

Array = jax.Array


@struct.dataclass
class TrainState:
    """Everything training needs to continue exactly: params, optimiser state, the PRNG key, the acting state
    (env state, next observation and flags, core carry) and the number of updates done (int32 [])."""

    params: Any
    opt_state: Any
    key: Array
    acting: ActingState
    update_step: Array


@struct.dataclass
class _Minibatch:
    carry: Any
    obs: Any
    is_first: Array
    action: Array
    log_prob: Array
    value: Array
    advantages: Array
    targets: Array


def make_optimizer(algo: PPOConfig) -> tuple[optax.GradientTransformation, Callable]:
    """Adam with global-norm clipping; returns (optimizer, schedule: optimiser step -> learning rate)."""
    steps = algo.num_updates * algo.num_epochs * algo.num_minibatches
    schedule = optax.linear_schedule(algo.lr, 0.0, steps) if algo.anneal_lr else optax.constant_schedule(algo.lr)
    tx = optax.chain(optax.clip_by_global_norm(algo.max_grad_norm), optax.adam(schedule, eps=1e-5))
    return tx, schedule


def _sequences(x: Array, num_chunks: int) -> Array:
    """[T, B, ...] -> [L, C * B, ...] with L = T / C: each chunk of each environment becomes one sequence."""
    t, b = x.shape[:2]
    x = x.reshape((num_chunks, t // num_chunks, b) + x.shape[2:]).swapaxes(0, 1)
    return x.reshape((t // num_chunks, num_chunks * b) + x.shape[3:])


def make_network(cfg: RunConfig, env: Any, env_params: Any) -> tuple[ActorCritic, VecEnv]:
    """The actor-critic and the vectorised (auto-reset, episode-statistics) environment ``make_train`` uses."""
    vec = VecEnv(EpisodeStats(env), cfg.algo.num_envs)
    net = make_actor_critic(cfg.model, vec.observation_space(env_params), vec.action_space(env_params),
                            cfg.algo.log_std_init)
    return net, vec


def make_train(cfg: RunConfig, env: Any, env_params: Any) -> Train:
    """Recurrent PPO on ``env`` (one unbatched environment of the ``ssmrl.env`` protocol) with ``env_params``;
    ``cfg.algo`` is a :class:`ssmrl.ppo.config.PPOConfig`.

    Returns a :class:`ssmrl.algorithm.Train`: ``init(key) -> TrainState``; ``update(state) -> (state, metrics)`` with
    metrics a dict of float32 scalars (episode_return, episode_length, episodes, loss, policy_loss, value_loss,
    entropy, approx_kl, clip_frac, grad_norm, lr, env_steps); ``evaluate(key, state) -> metrics`` (episode_return,
    episode_length, episodes) runs ``cfg.runner.eval_envs`` fresh environments with the current policy (greedy if
    ``runner.eval_greedy``) until each has finished one episode (at most ``cfg.runner.eval_steps`` steps);
    ``agent_params(state) -> state.params`` (the actor-critic's). All are pure and jittable and vmap over seeds.
    """
    if getattr(env, "host_side", False):
        raise ConfigError(f"env.suite={cfg.env.suite}: PPO runs on jittable JAX environments only, and "
                          f"{cfg.env.env_id} is stepped on the host; valid: popgym, gymnax, meta, wm_memory (or train "
                          "it with scripts/dreamer.py)")
    algo = cfg.algo
    net, vec = make_network(cfg, env, env_params)
    rollout = make_rollout(net, vec, env_params, algo.num_steps, algo.chunk_len)
    tx, schedule = make_optimizer(algo)
    num_chunks = 1 if algo.chunk_len is None else algo.num_steps // algo.chunk_len
    num_seq = num_chunks * algo.num_envs
    mb_size = num_seq // algo.num_minibatches

    def init(key: Array) -> TrainState:
        key, key_env, key_net = jax.random.split(key, 3)
        rollout_state = init_rollout_state(key_env, net, vec, env_params)
        params = net.init(key_net, rollout_state.carry, jax.tree.map(lambda x: x[None], rollout_state.obs),
                          rollout_state.is_first[None])
        return TrainState(params=params, opt_state=tx.init(params), key=key, acting=rollout_state,
                          update_step=jnp.zeros((), jnp.int32))

    def loss_fn(params, mb: _Minibatch):
        _, dist, value = net.apply(params, mb.carry, mb.obs, mb.is_first)
        terms = ppo_loss(dist.log_prob(mb.action), dist.entropy(), value, mb.log_prob, mb.value, mb.advantages,
                         mb.targets, algo.clip_eps, algo.vf_coef, algo.ent_coef, algo.clip_value, algo.norm_adv)
        return terms.total, terms

    def sgd_step(carry, mb: _Minibatch):
        params, opt_state = carry
        grads, terms = jax.grad(loss_fn, has_aux=True)(params, mb)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), (terms, optax.tree.norm(grads))

    def epoch(carry, key, data: _Minibatch):
        perm = jax.random.permutation(key, num_seq)
        # Sequences are shuffled (axis 1 of time-major data, axis 0 of carries); time order is kept.
        split_seq = lambda x: jnp.take(x, perm, axis=1).reshape(
            (x.shape[0], algo.num_minibatches, mb_size) + x.shape[2:]).swapaxes(0, 1)
        split_carry = lambda x: jnp.take(x, perm, axis=0).reshape((algo.num_minibatches, mb_size) + x.shape[1:])
        minibatches = _Minibatch(carry=jax.tree.map(split_carry, data.carry),
                                 **{f: jax.tree.map(split_seq, getattr(data, f))
                                    for f in ("obs", "is_first", "action", "log_prob", "value", "advantages",
                                              "targets")})
        return jax.lax.scan(sgd_step, carry, minibatches)

    def update(state: TrainState) -> tuple[TrainState, dict[str, Array]]:
        key, key_rollout, key_epochs = jax.random.split(state.key, 3)
        rollout_state, ro = rollout(key_rollout, state.params, state.acting)
        tr, extras = ro.trajectory, ro.trajectory.extras
        advantages, targets = compute_gae(tr.reward, extras["value"], tr.terminated, tr.truncated,
                                          extras["bootstrap_value"], ro.last_value, algo.gamma, algo.gae_lambda)
        seq = lambda x: jax.tree.map(lambda y: _sequences(y, num_chunks), x)
        data = _Minibatch(carry=jax.tree.map(lambda x: x.reshape((num_seq,) + x.shape[2:]), ro.start_carries),
                          obs=seq(tr.obs), is_first=seq(tr.is_first), action=seq(tr.action),
                          log_prob=seq(extras["log_prob"]), value=seq(extras["value"]), advantages=seq(advantages),
                          targets=seq(targets))
        (params, opt_state), (terms, grad_norm) = jax.lax.scan(
            lambda c, k: epoch(c, k, data), (state.params, state.opt_state),
            jax.random.split(key_epochs, algo.num_epochs))
        terms: LossTerms = jax.tree.map(jnp.mean, terms)
        step = state.update_step + 1
        metrics = {
            **episode_metrics(tr),
            "loss": terms.total, "policy_loss": terms.policy, "value_loss": terms.value,
            "entropy": terms.entropy, "approx_kl": terms.approx_kl, "clip_frac": terms.clip_frac,
            "grad_norm": grad_norm.mean(),
            "lr": schedule(state.update_step * algo.num_epochs * algo.num_minibatches),
            "env_steps": (step * algo.steps_per_update).astype(jnp.float32),
        }
        new_state = TrainState(params=params, opt_state=opt_state, key=key, acting=rollout_state,
                               update_step=step)
        return new_state, jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), metrics)

    run = cfg.runner
    eval_episodes = make_evaluate_episodes(VecEnv(EpisodeStats(env), max(run.eval_envs, 1)), env_params,
                                           make_policy(net, greedy=run.eval_greedy), net.initialize_carry,
                                           run.eval_steps)

    def evaluate(key: Array, state: TrainState) -> dict[str, Array]:
        return eval_episodes(key, state.params)

    return Train(init=init, update=update, evaluate=evaluate, agent_params=lambda state: state.params,
                 health=Health(lr_keys=("lr",), entropy_key="entropy",
                               collapse_hint="a larger algo.ent_coef or a smaller algo.lr"))
