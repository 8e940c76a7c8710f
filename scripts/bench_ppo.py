"""PPO throughput and compile time: env steps/s of whole updates (rollout + training) and compile seconds, for
S5 and GRU on popgym/RepeatPreviousEasy at 32 envs x 128 steps and 8 envs x 512 steps, 4 layers of width 64 and 256;
optionally over several (simulated) devices and several updates per compiled call.

    python scripts/bench_ppo.py                       # the full table (a few minutes on a CPU)
    python scripts/bench_ppo.py --cores s5 --widths 64 --repeats 2 --out outputs/bench/quick.json
    python scripts/bench_ppo.py --cores s5 --widths 64 --shapes 32x64 --devices 1 2 4 --seeds 4
    python scripts/bench_ppo.py --cores s5 --widths 64 --shapes 32x64 --per-call 1 10   # cost of small calls

``--devices N ...`` on a CPU simulates N devices (XLA's host platform device count); on a GPU machine it uses the
first N real devices. ``--per-call 1`` is what a run got before any update count ran full calls: the old runner
rounded updates per call down to a divisor of the number of updates, so a prime count (2441 updates for
``algo.total_timesteps=5000000``) ran one update per call. Prints a table and writes JSON (one record per setting,
plus the device and the host's load average).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="popgym/RepeatPreviousEasy", help="envs.make name")
    parser.add_argument("--cores", nargs="+", default=["s5", "gru"], help="cores to compare")
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 256], help="d_model values")
    parser.add_argument("--layers", type=int, default=4, help="layers in the stack")
    parser.add_argument("--shapes", nargs="+", default=["32x128", "8x512"], help="num_envs x num_steps")
    parser.add_argument("--per-call", nargs="+", type=int, default=[2], help="updates per compiled call")
    parser.add_argument("--devices", nargs="+", type=int, default=[1], help="device counts to place the run on")
    parser.add_argument("--seeds", type=int, default=1, help="seeds trained together (split over the devices)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up")
    parser.add_argument("--out", default="outputs/bench/bench_ppo.json", help="JSON file to write")
    return parser.parse_args()


def bench_one(task: str, core: str, width: int, layers: int, num_envs: int, num_steps: int, per_call: int,
              repeats: int, devices: int, seeds: int) -> dict:
    """Compile time of one call of ``per_call`` updates and env steps/s (all seeds) over ``repeats`` further
    calls, with the state placed on the first ``devices`` devices."""
    import jax

    import envs
    from ssmrl.ppo.config import ppo_run_config
    from ssmrl.ppo.train import make_train
    from ssmrl.runners.fused import make_fused_runner, seed_keys

    env, env_params = envs.make(task)
    cfg = ppo_run_config({
        "algo": {"num_envs": num_envs, "num_steps": num_steps, "num_minibatches": 4,
                 "total_timesteps": num_envs * num_steps * per_call * (repeats + 1)},
        "model": {"name": core, "d_model": width, "n_layers": layers}, "num_seeds": seeds,
    })
    runner, state = make_fused_runner(make_train(cfg, env, env_params), seed_keys(0, seeds), per_call,
                                      jax.devices()[:devices])
    state, metrics = runner.run(state, per_call)  # warm-up
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(repeats):
        state, metrics = runner.run(state, per_call)
        jax.device_get(metrics)  # what the run loop does after every call
    seconds = time.perf_counter() - start
    return {"core": core, "width": width, "layers": layers, "num_envs": num_envs, "num_steps": num_steps,
            "per_call": per_call, "devices": len(runner.devices), "seeds": seeds,
            "compile_s": round(runner.compile_s, 2),
            "steps_per_s": round(repeats * per_call * cfg.algo.steps_per_update * seeds / seconds, 1)}


def main() -> None:
    args = _args()
    if max(args.devices) > 1:  # must be set before jax starts; ignored by GPU backends
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={max(args.devices)}")
    import jax
    from rich.console import Console
    from rich.table import Table

    from ssmrl.output import write_json

    records = []
    for shape in args.shapes:
        num_envs, num_steps = (int(x) for x in shape.split("x"))
        for width in args.widths:
            for core in args.cores:
                for per_call in args.per_call:
                    for devices in args.devices:
                        rec = bench_one(args.task, core, width, args.layers, num_envs, num_steps, per_call,
                                        args.repeats, devices, args.seeds)
                        print(json.dumps(rec), flush=True)
                        records.append(rec)
    table = Table(title=f"PPO on {args.task} ({jax.devices()[0].device_kind}, {args.layers} layers, "
                        f"{args.seeds} seed(s))")
    for col in ("envs x steps", "width", "core", "updates/call", "devices", "env steps/s", "compile s"):
        table.add_column(col, justify="right")
    for r in records:
        table.add_row(f"{r['num_envs']}x{r['num_steps']}", str(r["width"]), r["core"], str(r["per_call"]),
                      str(r["devices"]), f"{r['steps_per_s']:,.0f}", f"{r['compile_s']:.1f}")
    Console().print(table)
    meta = {"task": args.task, "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg()}
    out = write_json(args.out, {"meta": meta, "results": records})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
