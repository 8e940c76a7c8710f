"""Benchmark every registered core: parallel ``apply`` against a ``lax.scan`` of ``step``.

For each core (a residual stack of ``--layers`` layers, width ``--d-model``) and each length L: throughput in
time steps x batch per second after warm-up, the compile time of the first call, and the memory XLA plans for
the compiled program (arguments + outputs + temporaries, from ``memory_analysis``; "-" where unavailable).
Also times a 4-layer S5 (H=256, P=128, L=1024, B=64; the shape of a public S5-PPO) forward and backward.

    python scripts/bench_core.py                       # everything (tens of minutes on a 2-core CPU)
    python scripts/bench_core.py --cores s5 gru --lengths 64 256 --out bench_results/core.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import available_cores, make_stack, step_loop
from ssmrl.xla_memory import compiled_memory, planned_mb


def _memory_mb(compiled) -> float | None:
    """XLA's planned MB of the compiled program (None where the backend does not report it: null in the JSON)."""
    memory = compiled_memory(compiled)
    return None if memory is None else planned_mb(memory)


def _time(fn, args, repeats: int) -> tuple[float, float, float | None]:
    """(compile seconds, median run seconds, planned memory MB) of ``jax.jit(fn)(*args)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return compile_s, statistics.median(runs), _memory_mb(compiled)


def bench_core(name: str, length: int, batch: int, d_model: int, layers: int, reset_prob: float,
               repeats: int, core_options: dict | None = None) -> list[dict]:
    stack = make_stack(name, d_model, n_layers=layers, **(core_options or {}))
    key_x, key_f, key_p = jax.random.split(jax.random.key(0), 3)
    xs = jax.random.normal(key_x, (length, batch, d_model))
    is_first = (jax.random.uniform(key_f, (length, batch)) < reset_prob).at[0].set(True)
    carry = stack.initialize_carry(batch)
    params = stack.init(key_p, carry, xs[:2], is_first[:2])
    rows = []
    modes = {
        "parallel": lambda p, c, x, f: stack.apply(p, c, x, f),
        "step-scan": lambda p, c, x, f: step_loop(stack, p, c, x, f)[:2],
    }
    for mode, fn in modes.items():
        compile_s, run_s, mem = _time(fn, (params, carry, xs, is_first), repeats)
        rows.append({"core": name, "mode": mode, "L": length, "B": batch, "H": d_model, "layers": layers,
                     "steps_per_s": length * batch / run_s, "run_ms": 1e3 * run_s, "compile_s": compile_s,
                     "memory_mb": mem})
    return rows


def bench_big_s5(repeats: int) -> dict:
    """4-layer S5, H=256, P=128, L=1024, B=64: compile and run of the forward pass and of a gradient."""
    length, batch, d_model = 1024, 64, 256
    stack = make_stack("s5", d_model, n_layers=4, state_size=128)
    xs = jax.random.normal(jax.random.key(0), (length, batch, d_model))
    is_first = jnp.zeros((length, batch), bool).at[0].set(True)
    carry = stack.initialize_carry(batch)
    params = stack.init(jax.random.key(1), carry, xs[:2], is_first[:2])
    forward = lambda p: stack.apply(p, carry, xs, is_first)[1]
    grad = jax.grad(lambda p: jnp.mean(forward(p) ** 2))
    out = {"shape": "4 layers, H=256, P=128, L=1024, B=64"}
    for label, fn in (("forward", forward), ("grad", grad)):
        compile_s, run_s, mem = _time(fn, (params,), repeats)
        out[label] = {"compile_s": compile_s, "run_ms": 1e3 * run_s, "steps_per_s": length * batch / run_s,
                      "memory_mb": mem}
    return out


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", nargs="+", default=available_cores(), help=f"from {available_cores()}")
    parser.add_argument("--lengths", nargs="+", type=int, default=[64, 256, 1024, 4096])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--reset-prob", type=float, default=0.005, help="chance of an episode start per step")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-big", action="store_true", help="skip the 4-layer H=256 S5")
    parser.add_argument("--out", default="bench_results/bench_core.json")
    args = parser.parse_args()
    unknown = sorted(set(args.cores) - set(available_cores()))
    if unknown:
        parser.error(f"unknown core(s) {unknown}; valid: {available_cores()}")

    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} CPUs), "
          f"B={args.batch} H={args.d_model} layers={args.layers} reset_prob={args.reset_prob}")
    header = f"{'core':<12}{'mode':<11}{'L':>6}{'steps/s':>14}{'run ms':>10}{'compile s':>11}{'mem MB':>9}"
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.cores:
        for length in args.lengths:
            for row in bench_core(name, length, args.batch, args.d_model, args.layers, args.reset_prob,
                                  args.repeats):
                rows.append(row)
                print(f"{row['core']:<12}{row['mode']:<11}{row['L']:>6}{row['steps_per_s']:>14,.0f}"
                      f"{row['run_ms']:>10.2f}{row['compile_s']:>11.2f}{_fmt(row['memory_mb'], '>9.1f')}",
                      flush=True)
    result = {"platform": platform.platform(), "device": jax.devices()[0].platform, "jax": jax.__version__,
              "rows": rows}
    if not args.skip_big:
        big = bench_big_s5(max(1, args.repeats // 2))
        result["big_s5"] = big
        print(f"\nS5 {big['shape']}:")
        for label in ("forward", "grad"):
            b = big[label]
            print(f"  {label:<8} compile {b['compile_s']:.2f} s, run {b['run_ms']:.1f} ms, "
                  f"{b['steps_per_s']:,.0f} steps/s, memory {_fmt(b['memory_mb'], '.0f')} MB")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2, default=lambda x: None if isinstance(x, float) and np.isnan(x) else x)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
