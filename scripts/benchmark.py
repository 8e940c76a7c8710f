"""The memory benchmark: algorithm x model x task cells (all seeds of a cell in one program) from a preset, with
MMER, final and greedy-evaluation returns, timing and parameter counts per cell, a results table and plots.

    python scripts/benchmark.py preset=smoke out_dir=outputs/benchmark/smoke     # about a minute on 2 CPU cores
    python scripts/benchmark.py preset=quick out_dir=outputs/benchmark/quick     # PPO, 3 tasks x 6 models
    python scripts/benchmark.py preset=popgym-hard out_dir=runs/hard match_params=200000 num_seeds=3
    python scripts/benchmark.py preset=quick out_dir=out models=[s5,lru] tasks=[popgym/RepeatPreviousEasy] \\
        algo.lr=1e-3 s5.model.state_size=16 ppo.algo.num_envs=64

Presets: configs/benchmark/<name>.yaml. Command-line keys: preset, out_dir, any preset key (algos, models, tasks,
match_params, meta_trials, mmer_window, diagnostics, max_cells, ...), ``<algo>.<key>=v`` / ``<model>.<key>=v`` for
the cells of one algorithm / core, and any other Hydra override of every cell's config (``algo.lr=1e-3``,
``model.d_model=32``, ``num_seeds=3``). GRU, LSTM, Transformer and identity are always in the grid.

Writes ``<out_dir>/runs/<algo>/<task>/<model>/`` (one run dir per cell, as scripts/ppo.py writes),
``results.csv``, ``results.md``, ``curves_<task>.png``, ``summary.png`` and, for meta-RL tasks,
``trials_<task>.png``. Rerunning the same command skips finished cells and resumes a killed one. Mistakes print
one line and exit with status 2; Ctrl-C keeps what is saved and exits with 130.

World-model presets (``kind: world_model``, ssmrl.benchmark.wm_grid): offline world-model training and open-loop
evaluation on the envs.wm_memory tasks (S4WM's comparison), model x task cells, a throughput sweep per model::

    python scripts/benchmark.py preset=wm-backbones-smoke out_dir=outputs/benchmark/wm-smoke
    python scripts/benchmark.py preset=wm-backbones-quick out_dir=out models=[s5,gru] train_steps=100 \\
        offline.batch_size=8 s5.model.state_size=32

They write ``<out_dir>/wm/<task>/<model>/``, ``wm_results.csv``, ``wm_results.md``, ``wm_mse_<task>.png``,
``wm_strip_<task>.png`` and ``wm_speed.png``; a killed cell restarts from scratch.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

try:  # Ctrl-C while the libraries load: one line, not a traceback
    import jax

    from ssmrl.benchmark.rl_grid import Algorithm, main
    from ssmrl.benchmark.settings import list_presets
except KeyboardInterrupt:
    print("interrupted before anything started")
    sys.exit(130)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def make_env(name: str, **kwargs):
    import envs

    return envs.make(name, **kwargs)


def wm_data(task: str, **overrides):
    """A world-model task's spaces, episode length and data generator (envs.wm_memory)."""
    from envs.wm_memory import generate_dataset, make_task
    from envs.wm_memory.grid import draw_classes
    from ssmrl.benchmark.wm_grid import TaskData

    env, params = make_task(task, **overrides)
    generate = lambda key, num: generate_dataset(key, task, num, **overrides)
    render = draw_classes if params.obs_mode == "tiles" else None  # tile windows drawn for the strips
    return TaskData(env.observation_space(params), env.action_space(params), int(params.length), generate, render)


def ppo_memory_inputs(cfg, env, env_params, state, key, steps):
    """PPO's trained stack on greedy episodes: (stack, its variables, encoder outputs xs [T, B, H], is_first [T, B])
    from ``algo.num_envs`` fresh environments over ``steps`` steps; ``state``: one seed's TrainState."""
    from ssmrl.acting import make_act
    from ssmrl.ppo.rollout import init_rollout_state, make_policy
    from ssmrl.ppo.train import make_network

    net, vec = make_network(cfg, env, env_params)
    key_reset, key_run = jax.random.split(key)
    acting = init_rollout_state(key_reset, net, vec, env_params)
    act = jax.jit(make_act(vec, env_params, make_policy(net, greedy=True), steps))
    _, traj = act(key_run, state.params, acting)
    xs = net.apply(state.params, traj.obs, method=lambda module, obs: module.encoder(obs))
    return net.stack, {"params": state.params["params"]["stack"]}, xs, traj.is_first


def load_ppo() -> Algorithm:
    from ssmrl.ppo.config import PPOConfig
    from ssmrl.ppo.train import make_train

    return Algorithm("ppo", PPOConfig, make_train, memory_inputs=ppo_memory_inputs)


def load_dreamer() -> Algorithm:
    from ssmrl.dreamer.config import DreamerConfig
    from ssmrl.dreamer.train import make_train

    # No memory diagnostics yet (the core inputs are the world model's latents and actions, not an encoder's
    # output).
    return Algorithm("dreamer", DreamerConfig, make_train)


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip() + f"\n\npresets: {', '.join(list_presets(CONFIG_DIR))}")
        sys.exit(0)
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax reports every checkpoint step at INFO
    sys.exit(main(sys.argv[1:], CONFIG_DIR, {"ppo": load_ppo, "dreamer": load_dreamer}, make_env, wm_data=wm_data))
