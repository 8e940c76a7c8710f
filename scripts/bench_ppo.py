"""PPO throughput and compile time: env steps/s of whole updates (rollout + training) and compile seconds, for
S5 and GRU on popgym/RepeatPreviousEasy at 32 envs x 128 steps and 8 envs x 512 steps, 4 layers of width 64 and 256.

    python scripts/bench_ppo.py                       # the full table (a few minutes on a CPU)
    python scripts/bench_ppo.py --cores s5 --widths 64 --repeats 2 --out outputs/bench/quick.json

Prints a table and writes JSON (one record per setting, plus the device and the host's load average).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
from rich.console import Console
from rich.table import Table

import envs
from ssmrl.config import ppo_config_from_dict
from ssmrl.ppo.train import make_train
from ssmrl.runners.fused import make_fused_runner, seed_keys


def bench_one(task: str, core: str, width: int, layers: int, num_envs: int, num_steps: int, chunk: int,
              repeats: int) -> dict:
    """Compile time of one chunk of ``chunk`` updates and env steps/s over ``repeats`` further chunks."""
    env, env_params = envs.make(task)
    cfg = ppo_config_from_dict({
        "algo": {"num_envs": num_envs, "num_steps": num_steps, "num_minibatches": 4,
                 "total_timesteps": num_envs * num_steps * chunk * (repeats + 1)},
        "model": {"name": core, "d_model": width, "n_layers": layers},
    })
    init, update = make_train(cfg, env, env_params)
    runner, state = make_fused_runner(init, update, seed_keys(0, 1), chunk)
    state, metrics = runner.run_chunk(state)  # warm-up
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(repeats):
        state, metrics = runner.run_chunk(state)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    return {"core": core, "width": width, "layers": layers, "num_envs": num_envs, "num_steps": num_steps,
            "compile_s": round(runner.compile_s, 2),
            "steps_per_s": round(repeats * chunk * cfg.algo.steps_per_update / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="popgym/RepeatPreviousEasy", help="envs.make name")
    parser.add_argument("--cores", nargs="+", default=["s5", "gru"], help="cores to compare")
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 256], help="d_model values")
    parser.add_argument("--layers", type=int, default=4, help="layers in the stack")
    parser.add_argument("--shapes", nargs="+", default=["32x128", "8x512"], help="num_envs x num_steps")
    parser.add_argument("--chunk", type=int, default=2, help="updates per compiled call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up")
    parser.add_argument("--out", default="outputs/bench/bench_ppo.json", help="JSON file to write")
    args = parser.parse_args()

    records = []
    for shape in args.shapes:
        num_envs, num_steps = (int(x) for x in shape.split("x"))
        for width in args.widths:
            for core in args.cores:
                rec = bench_one(args.task, core, width, args.layers, num_envs, num_steps, args.chunk, args.repeats)
                print(json.dumps(rec), flush=True)
                records.append(rec)
    table = Table(title=f"PPO on {args.task} ({jax.devices()[0].device_kind}, {args.layers} layers)")
    for col in ("envs x steps", "width", "core", "env steps/s", "compile s"):
        table.add_column(col, justify="right")
    for r in records:
        table.add_row(f"{r['num_envs']}x{r['num_steps']}", str(r["width"]), r["core"], f"{r['steps_per_s']:,.0f}",
                      f"{r['compile_s']:.1f}")
    Console().print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"task": args.task, "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg()}
    out.write_text(json.dumps({"meta": meta, "results": records}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
