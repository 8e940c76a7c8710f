"""Dreamer (an S4WM-style world model and an imagination actor-critic on any core) as the
:class:`ssmrl.algorithm.Train` every algorithm hands the run layer: ``init(key) -> DreamerState``,
``update(state) -> (state, metrics)``, ``evaluate(key, state) -> metrics`` and ``agent_params(state)`` (world
model, actor and critic: the slow critic is a copy of the critic). On a host-side environment (Atari) ``update``
is None and ``host`` (:class:`ssmrl.algorithm.HostParts`) holds it in two halves: the collection of step 1 on the
host, then the jitted ``learn`` (storing the steps, and step 2).

One update, all under ``jit`` (``ssmrl.runners`` loops it on the device and vmaps it over seeds):

1. collect ``num_envs x num_steps`` env steps with the shared acting module: the world model observes each new
   observation with its ``observe_step`` (posterior ``z_t``, core output ``h_t``) and the actor samples
   ``a_t ~ pi(. | h_t, z_t)``; the steps, with each ended episode's final observation as its own step, go into the
   device replay inside the state;
2. once ``learning_starts`` env steps are stored, ``grad_steps`` gradient steps (``DreamerConfig.grad_steps``, from
   ``train_ratio``), each: sample ``batch_size`` sequences of ``seq_len`` steps; world-model loss and Adam step;
   imagine ``horizon`` steps from every posterior state of the batch; lambda-returns on the critic's values;
   percentile return normalisation; REINFORCE actor loss with entropy bonus; two-hot critic loss with the slow
   critic regulariser, on the imagined returns and (weight ``replay_critic``) on the replayed sequences' returns
   bootstrapped with imagination (``losses.replay_returns``); slow critic EMA. The actor-critic sees the world
   model only through ``stop_gradient``.

Rewards enter the replay (so the reward head, the critic and the imagined returns) multiplied by
``algo.reward_multiplier``; episode returns are reported in the environment's units.

Metrics: the episode statistics of acting, the world-model terms (``wm_loss``, ``recon_loss``, ``reward_loss``,
``cont_loss``, ``dyn_kl``, ``rep_kl``, ``post_entropy``, ``prior_entropy``), ``actor_loss``, ``critic_loss``,
``policy_entropy``, ``imagined_return`` (mean lambda-return, in replay units), ``return_scale``,
``replay_steps``, ``grad_steps_done`` and ``env_steps``; the training terms are means over the update's gradient
steps (0 before training starts).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from ssmrl.acting import ActingState, Trajectory, episode_metrics, init_acting, make_act, make_evaluate_episodes
from ssmrl.algorithm import Health, HostParts, Train
from ssmrl.config import ConfigError, RunConfig
from ssmrl.dreamer.config import DreamerConfig
from ssmrl.dreamer.imagine import Actor, Critic, imagine
from ssmrl.dreamer.losses import (
    ReturnNorm,
    actor_loss,
    critic_loss,
    discount_weight,
    lambda_returns,
    replay_returns,
    return_norm_init,
    return_norm_scale,
    return_norm_update,
)
from ssmrl.dreamer.replay import Replay, replay_add, replay_init, replay_sample, replay_size
from ssmrl.env_wrappers import EpisodeStats, VecEnv
from ssmrl.host_acting import make_host_act, make_host_evaluate
from ssmrl.nets import space_spec
from ssmrl.world_model.build import build_world_model
from ssmrl.world_model.model import WMCarry, features, init_world_model
from ssmrl.world_model.step import clipped_adam, make_world_model_step

Array = jax.Array
sg = jax.lax.stop_gradient
WM_KEYS = ("recon_loss", "reward_loss", "cont_loss", "dyn_kl", "rep_kl", "post_entropy", "prior_entropy")
EVAL_SEED_OFFSET = 1_000_003  # a host environment's evaluation emulators use seed + this (apart from training's)
TRAIN_KEYS = ("wm_loss", *WM_KEYS, "actor_loss", "critic_loss", "policy_entropy", "imagined_return", "return_scale")
# a divergence names the first non-finite metric in the order a gradient step computes them (world model, actor,
# critic) and Dreamer's three learning rates
HEALTH = Health(lr_keys=("wm_lr", "actor_lr", "critic_lr"), metric_order=TRAIN_KEYS, entropy_key="policy_entropy",
                collapse_hint="a smaller algo.actor_lr or a larger algo.ent_coef")


@struct.dataclass
class DreamerState:
    """Everything training needs to continue exactly: the four networks' parameters (world model, actor, critic,
    slow critic), three optimiser states, the return normaliser, the replay, the acting state (env state, next
    observation and flags, world-model carry and previous action), the PRNG key and counters (int32 [])."""

    wm_params: Any
    actor_params: Any
    critic_params: Any
    slow_critic_params: Any
    wm_opt: Any
    actor_opt: Any
    critic_opt: Any
    return_norm: ReturnNorm
    replay: Replay
    acting: ActingState
    key: Array
    update_step: Array
    grad_steps_done: Array


@struct.dataclass
class AgentCarry:
    """The acting carry: the world model's carry and the previous action (leaves [B, ...])."""

    wm: WMCarry
    action: Array


def make_train(cfg: RunConfig, env: Any, env_params: Any) -> Train:
    """Dreamer on ``env`` (one unbatched environment of the ``ssmrl.env`` protocol, or a host-side one);
    ``cfg.algo`` is a :class:`ssmrl.dreamer.config.DreamerConfig`. Returns a :class:`ssmrl.algorithm.Train`; see
    the module docstring. Raises :class:`ConfigError` if the encoder cannot take the observations."""
    algo: DreamerConfig = cfg.algo
    host = getattr(env, "host_side", False)
    if host and cfg.num_seeds != 1:
        raise ConfigError(f"num_seeds={cfg.num_seeds} with the host-side environment {cfg.env.env_id}; valid: 1 "
                          "(run seeds as separate runs, e.g. with scripts/atari100k.py)")
    vec = env.vec(algo.num_envs, cfg.seed) if host else VecEnv(EpisodeStats(env), algo.num_envs)
    obs_space, action_space = vec.observation_space(env_params), vec.action_space(env_params)
    obs_spec, action_spec = space_spec(obs_space), space_spec(action_space)
    if obs_spec[0] == "box" and len(obs_spec[1]) not in (1, 3):
        raise ConfigError(f"env.task {cfg.env.task}: observations of shape {obs_spec[1]} are neither vectors nor "
                          "[H, W, C] images; valid: rank 1 (MLP encoder) or rank 3 (CNN encoder)")
    world_model = build_world_model(algo, obs_space, action_space, cfg.model.make_stack())
    wm_tx, wm_step = make_world_model_step(algo, world_model)
    actor = Actor(action_spec, hidden=algo.hidden, layers=algo.mlp_layers)
    critic = Critic(num_bins=algo.reward_bins, hidden=algo.hidden, layers=algo.mlp_layers)
    actor_tx = clipped_adam(algo.actor_lr, algo.ac_grad_clip)
    critic_tx = clipped_adam(algo.critic_lr, algo.ac_grad_clip)
    action_example = jnp.asarray(action_space.sample(jax.random.PRNGKey(0)))
    obs_example = jnp.asarray(obs_space.sample(jax.random.PRNGKey(0)))

    def initial_carry(batch_size: int) -> AgentCarry:
        action = jnp.zeros((batch_size,) + action_example.shape, action_example.dtype)
        return AgentCarry(world_model.initialize_carry(batch_size), action)

    def make_policy(greedy: bool):
        def policy(params, carry: AgentCarry, obs, is_first, key):
            wm_params, actor_params = params
            key_wm, key_act = jax.random.split(key)
            out = world_model.apply(wm_params, key_wm, carry.wm, obs, carry.action, is_first,
                                    method="observe_step")
            dist = actor.apply(actor_params, features(out.h, out.z))
            action = dist.mode() if greedy else dist.sample(seed=key_act)
            action = action.astype(action_example.dtype)
            return AgentCarry(out.carry, action), action, {}

        return policy

    def init(key: Array) -> DreamerState:
        key, key_env, key_wm, key_actor, key_critic = jax.random.split(key, 5)
        wm_params = init_world_model(key_wm, world_model)
        feat = jnp.zeros((1, world_model.stack.d_model + algo.latent_groups * algo.latent_classes))
        actor_params = actor.init(key_actor, feat)
        critic_params = critic.init(key_critic, feat)
        return DreamerState(
            wm_params=wm_params, actor_params=actor_params, critic_params=critic_params,
            slow_critic_params=critic_params, wm_opt=wm_tx.init(wm_params), actor_opt=actor_tx.init(actor_params),
            critic_opt=critic_tx.init(critic_params), return_norm=return_norm_init(),
            replay=replay_init(algo.replay_capacity, algo.num_envs, obs_example, action_example),
            acting=(ActingState(None, jnp.zeros((algo.num_envs,) + obs_example.shape, obs_example.dtype),
                                jnp.ones((algo.num_envs,), bool), initial_carry(algo.num_envs)) if host else
                    init_acting(key_env, vec, env_params, initial_carry(algo.num_envs))), key=key,
            update_step=jnp.zeros((), jnp.int32), grad_steps_done=jnp.zeros((), jnp.int32))

    def grad_step(state: DreamerState, key: Array) -> tuple[DreamerState, dict[str, Array]]:
        key_sample, key_wm, key_imagine = jax.random.split(key, 3)
        batch = replay_sample(key_sample, state.replay, algo.batch_size, algo.seq_len, algo.replay_episode_starts)
        wm_params, wm_opt, aux, _ = wm_step(state.wm_params, state.wm_opt, batch, key_wm)

        def actor_objective(actor_params):
            traj = imagine(key_imagine, state.wm_params, actor_params, aux.start, algo.horizon,
                           world_model=world_model, actor=actor)
            value = critic.apply(state.critic_params, traj.feat, method="value")
            returns = lambda_returns(traj.reward, traj.cont, value, algo.gamma, algo.lam)
            norm = return_norm_update(state.return_norm, returns, algo.return_norm_decay)
            weight = discount_weight(traj.cont, algo.gamma, traj.start_cont)
            advantage = (returns - value[:-1]) / return_norm_scale(norm)
            loss = actor_loss(traj.log_prob, traj.entropy, advantage, algo.ent_coef, weight)
            return loss, (traj, returns, norm, weight)

        (a_loss, (traj, returns, norm, weight)), actor_grads = jax.value_and_grad(actor_objective, has_aux=True)(
            state.actor_params)
        updates, actor_opt = actor_tx.update(actor_grads, state.actor_opt, state.actor_params)
        actor_params = optax.apply_updates(state.actor_params, updates)

        # The critic learns the imagined lambda-returns at every imagined state and, at the replayed states
        # (imagination's starts, feat[0]), the lambda-returns of the real data bootstrapped with imagination.
        feat = sg(traj.feat[:-1])
        slow_logits = critic.apply(state.slow_critic_params, feat)
        t_len, b_len = batch.is_first.shape
        replayed = replay_returns(batch.reward, batch.terminated, batch.is_first, returns[0].reshape(t_len, b_len),
                                  algo.gamma, algo.lam).reshape(-1)
        replayed_weight = traj.start_cont * (jnp.arange(t_len * b_len) < (t_len - 1) * b_len)  # not R_{T-1} = boot

        def critic_objective(p):
            logits = critic.apply(p, feat)
            imagined_loss = critic_loss(logits, sg(returns), slow_logits, critic.bins(), algo.slow_critic_reg, weight)
            replay_loss = critic_loss(logits[0], replayed, slow_logits[0], critic.bins(), algo.slow_critic_reg,
                                      replayed_weight)
            return imagined_loss + algo.replay_critic * replay_loss

        c_loss, critic_grads = jax.value_and_grad(critic_objective)(state.critic_params)
        updates, critic_opt = critic_tx.update(critic_grads, state.critic_opt, state.critic_params)
        critic_params = optax.apply_updates(state.critic_params, updates)
        mix = algo.slow_critic_decay
        slow = jax.tree.map(lambda s, c: mix * s + (1 - mix) * c, state.slow_critic_params, critic_params)
        m = aux.metrics
        metrics = {"wm_loss": m["loss"], **{k: m[k] for k in WM_KEYS}, "actor_loss": a_loss,
                   "critic_loss": c_loss, "policy_entropy": traj.entropy.mean(), "imagined_return": returns.mean(),
                   "return_scale": return_norm_scale(norm)}
        state = state.replace(wm_params=wm_params, actor_params=actor_params, critic_params=critic_params,
                              slow_critic_params=slow, wm_opt=wm_opt, actor_opt=actor_opt, critic_opt=critic_opt,
                              return_norm=norm, grad_steps_done=state.grad_steps_done + 1)
        return state, metrics

    def train(state: DreamerState, key: Array) -> tuple[DreamerState, dict[str, Array]]:
        state, metrics = jax.lax.scan(grad_step, state, jax.random.split(key, algo.grad_steps))
        return state, jax.tree.map(jnp.mean, metrics)

    def skip(state: DreamerState, key: Array) -> tuple[DreamerState, dict[str, Array]]:
        return state, {k: jnp.zeros((), jnp.float32) for k in TRAIN_KEYS}

    def learn(state: DreamerState, traj: Trajectory) -> tuple[DreamerState, dict[str, Array]]:
        key, key_train = jax.random.split(state.key)
        replay = replay_add(state.replay, traj.obs, traj.action, traj.reward * algo.reward_multiplier,
                            traj.is_first, traj.terminated,
                            traj.truncated, traj.final_obs)
        state = state.replace(replay=replay, key=key)
        ready = (replay_size(replay) >= algo.learning_starts) & jnp.all(replay.count >= algo.seq_len)
        state, train_metrics = jax.lax.cond(ready, train, skip, state, key_train)
        step = state.update_step + 1
        metrics = {**episode_metrics(traj), **train_metrics, "replay_steps": replay_size(replay),
                   "grad_steps_done": state.grad_steps_done,
                   "env_steps": step * algo.steps_per_update}
        return state.replace(update_step=step), jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), metrics)

    params = lambda state: (state.wm_params, state.actor_params)
    agent_params = lambda state: (state.wm_params, state.actor_params, state.critic_params)
    if host:
        eval_seed = cfg.seed + EVAL_SEED_OFFSET
        host_eval = make_host_evaluate(lambda: env.vec(max(cfg.runner.eval_envs, 1), eval_seed), make_policy(True),
                                       initial_carry, cfg.runner.eval_steps)
        parts = HostParts(params=params, act=make_host_act(vec, make_policy(False), algo.num_steps), learn=learn,
                          env=vec)
        return Train(init=init, update=None, evaluate=lambda key, state: host_eval(key, params(state)),
                     agent_params=agent_params, host=parts, health=HEALTH)

    act = make_act(vec, env_params, make_policy(False), algo.num_steps)
    eval_episodes = make_evaluate_episodes(VecEnv(EpisodeStats(env), max(cfg.runner.eval_envs, 1)), env_params,
                                           make_policy(True), initial_carry, cfg.runner.eval_steps)

    def update(state: DreamerState) -> tuple[DreamerState, dict[str, Array]]:
        key, key_act = jax.random.split(state.key)
        acting, traj = act(key_act, params(state), state.acting)
        return learn(state.replace(acting=acting, key=key), traj)

    def evaluate(key: Array, state: DreamerState) -> dict[str, Array]:
        return eval_episodes(key, params(state))

    return Train(init=init, update=update, evaluate=evaluate, agent_params=agent_params, health=HEALTH)
