"""The offline world model's training step in both observation modes of the wm_memory tasks, side by side: pixel
frames (uint8 [32, 32, 3]: conv encoder and decoder, MSE) against tiles (int32 [7, 7] tile classes: one-hot cells
and an MLP, per-cell logits, cross-entropy), at a world-model preset's sizes (default ``wm-backbones-quick``: whole
128-step episodes, batch 4) on one of its models.

For each mode: the world model of the model's configs (``ssmrl.benchmark.wm_settings.model_specs``), a batch
sampled from scripted episodes of the task, the training step compiled (``Offline.train_step``); then ``--rounds``
rounds, each timing ``--repeats`` steps of every mode in turn (the state fed back), so that both modes see the same
load. Prints ``uptime`` before and after, then per mode: updates per second (one update: a [T, B] batch), replayed
steps per second (T x B per second), the median ms of an update, the compile seconds and XLA's planned MB of the
step; then how much faster the tiles' update is.

    python scripts/bench_wm_obs.py                                   # s5 on RevisitEasy, wm-backbones-quick
    python scripts/bench_wm_obs.py --model gru --task TeleportEasy --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import jax

from envs.wm_memory import generate_dataset, make_task
from ssmrl.benchmark.wm_settings import load_wm_settings, model_specs
from ssmrl.world_model.offline import make_offline
from ssmrl.xla_memory import compiled_memory, planned_mb

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
MODES = ("pixels", "tiles")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime: unavailable"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="wm-backbones-quick", help="world-model preset giving the sizes")
    parser.add_argument("--model", default="s5", help="one of the preset's models (a core or a variant)")
    parser.add_argument("--task", default="RevisitEasy", help="envs.wm_memory task (the preset's task_kwargs apply)")
    parser.add_argument("--episodes", type=int, default=8, help="scripted episodes the batch is sampled from")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (each times every mode in turn)")
    parser.add_argument("--repeats", type=int, default=5, help="timed updates per mode and round")
    args = parser.parse_args()

    settings = load_wm_settings(CONFIG_DIR, [f"preset={args.preset}", "out_dir=unused", f"models=[{args.model}]"])
    spec = model_specs(settings, CONFIG_DIR)[args.model]
    kwargs = settings.task_kwargs.get(args.task) or {}
    print(f"load before: {uptime()}")
    print(f"{args.preset}: {args.model} (core {spec.core.name}, d_model {spec.core.d_model} x {spec.core.n_layers}), "
          f"batch {spec.offline.batch_size}, seq_len {spec.offline.seq_len or 'whole episodes'}, {args.task}, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}")
    runs = {}
    for mode in MODES:
        env, params = make_task(args.task, obs_mode=mode, **kwargs)
        offline = make_offline(spec.offline, env.observation_space(params), env.action_space(params), spec.core)
        episodes = generate_dataset(jax.random.key(0), args.task, args.episodes, obs_mode=mode, **kwargs)
        state = offline.init(jax.random.key(1))
        batch = offline.sample(jax.random.key(2), episodes)
        start = time.perf_counter()
        step = offline.train_step.lower(state, batch).compile()
        compile_s = time.perf_counter() - start
        state, _ = jax.block_until_ready(step(state, batch))  # warm-up
        runs[mode] = {"step": step, "state": state, "batch": batch, "compile_s": compile_s, "times": [],
                      "mb": planned_mb(compiled_memory(step))}
    for _ in range(args.rounds):
        for run in runs.values():
            for _ in range(args.repeats):
                start = time.perf_counter()
                run["state"], _ = jax.block_until_ready(run["step"](run["state"], run["batch"]))
                run["times"].append(time.perf_counter() - start)
    print(f"load after: {uptime()}")
    medians = {}
    for mode, run in runs.items():
        length, batch = run["batch"].is_first.shape
        medians[mode] = statistics.median(run["times"])
        print(f"{mode:>6}: {1 / medians[mode]:7.2f} updates/s ({length * batch / medians[mode]:8.0f} replayed "
              f"steps/s, T {length} x B {batch}), median {1e3 * medians[mode]:7.1f} ms of {len(run['times'])}, "
              f"compile {run['compile_s']:.1f} s, planned {run['mb']:.1f} MB")
    print(f"tiles / pixels: {medians['pixels'] / medians['tiles']:.1f}x the updates per second")


if __name__ == "__main__":
    main()
