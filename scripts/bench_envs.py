"""Random-policy environment throughput: env steps per second for every registered env.

For each env (every POPGym family x level, a few gymnax envs, optionally meta-wrapped ones) a jitted
``lax.scan`` of ``--steps`` steps of ``VecEnv`` (AutoReset, vmapped over ``--num-envs``) with uniformly random
actions; steps/s = steps * num_envs / wall time of the second (compiled) call. Prints a table and writes JSON.

    python scripts/bench_envs.py --num-envs 1024 --steps 1000 --out bench_results/envs.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp

import envs
from envs.catalog import popgym_names
from ssmrl.env_wrappers import VecEnv


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=1024, help="environments vmapped together")
    parser.add_argument("--steps", type=int, default=1000, help="scan length (steps per environment)")
    parser.add_argument("--out", default="bench_results/envs.json", help="JSON output path")
    parser.add_argument(
        "--gymnax", nargs="*", default=["CartPole-v1", "Acrobot-v1", "Breakout-MinAtar"], help="gymnax ids to include"
    )
    parser.add_argument(
        "--meta",
        nargs="*",
        default=["popgym/MultiarmedBanditEasy", "gymnax/CartPole-v1"],
        help="inner names to include meta-wrapped",
    )
    parser.add_argument("--only", default="", help="substring filter on names")
    return parser.parse_args()


def bench(name: str, num_envs: int, steps: int) -> dict:
    env, params = envs.make(name)
    vec = VecEnv(env, num_envs)

    @jax.jit
    def run(key):
        key_reset, key_run = jax.random.split(key)
        _, state = vec.reset(key_reset, params)

        def body(carry, key):
            state, total = carry
            key_act, key_step = jax.random.split(key)
            action = vec.sample_action(key_act, params)
            obs, state, reward, _, _, _ = vec.step(key_step, state, action, params)
            # Depend on the observations too, so XLA cannot drop the dynamics of envs whose reward is constant.
            checksum = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(obs))
            return (state, total + reward.sum() + 1e-12 * checksum), None

        (state, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key_run, steps))
        return total

    start = time.perf_counter()
    jax.block_until_ready(run(jax.random.key(0)))
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(run(jax.random.key(1)))
    run_s = time.perf_counter() - start
    return {"name": name, "steps_per_s": steps * num_envs / run_s, "run_s": run_s, "compile_s": compile_s}


def main() -> None:
    args = parse_args()
    names = popgym_names() + [f"gymnax/{g}" for g in args.gymnax] + [f"meta/{m}" for m in args.meta]
    names = [n for n in names if args.only in n]
    rows = []
    print(f"{'env':44s} {'steps/s':>14s} {'run s':>8s} {'compile s':>10s}")
    for name in names:
        row = bench(name, args.num_envs, args.steps)
        rows.append(row)
        print(f"{name:44s} {row['steps_per_s']:14,.0f} {row['run_s']:8.2f} {row['compile_s']:10.1f}", flush=True)
    meta = {
        "num_envs": args.num_envs,
        "steps": args.steps,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"config": meta, "results": rows}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
