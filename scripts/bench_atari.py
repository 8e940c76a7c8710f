"""Atari 100k cost of Dreamer in its default configuration (configs/env_preset/dreamer_atari100k.yaml: DreamerV3's
size S, train ratio 1024), measured on this machine: collection and training separately, and the projected hours
of one game's 100k agent steps.

- collection: agent steps per second of the host acting loop (jitted policy step: the world model observes the
  frame and the actor samples; then the emulators step on the host), ``algo.num_envs`` emulators, timed over
  ``--collect-updates`` updates after a warm-up update;
- training: seconds per ``learn`` call (store the update's steps, then ``grad_steps`` gradient steps of world model
  and actor-critic), median over ``--train-updates`` calls after the compile; expressed as agent steps per second
  (``steps_per_update / seconds``);
- projection: hours for 100k agent steps = 100,000 x (1 / collection + 1 / training) / 3600 (the two run one
  after the other in the run loop), plus the compile time and a 100-episode final evaluation not included.

Every Hydra override of ``scripts/dreamer.py`` applies (e.g. ``model=gru``, ``algo.train_ratio=256``); the defaults
are the full Atari 100k settings. ``algo.learning_starts`` is lowered to one replayed sequence so training starts
after a few updates; the updates before it only store their steps and are not timed. Prints one line per phase
and a JSON record (``--out`` to save it).

    python scripts/bench_atari.py                              # Pong, S5, the Atari 100k defaults
    python scripts/bench_atari.py model=gru --train-updates 3 --out outputs/bench/atari_gru.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import jax

import envs
from ssmrl.cli import compose_config
from ssmrl.config import run_config_from_dict
from ssmrl.dreamer.config import DreamerConfig
from ssmrl.dreamer.train import make_train
from ssmrl.output import write_json
from ssmrl.runners.host_envs import make_host_runner

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BUDGET = 100_000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of configs/dreamer.yaml")
    parser.add_argument("--game", default="Pong")
    parser.add_argument("--collect-updates", type=int, default=8)
    parser.add_argument("--train-updates", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from omegaconf import OmegaConf

    composed = compose_config(CONFIGS, "dreamer", ["env=atari100k", f"env.task={args.game}", *args.overrides])
    data = OmegaConf.to_container(composed, resolve=True)
    data.pop("resume", None)
    data["algo"]["learning_starts"] = data["algo"]["seq_len"]
    cfg = run_config_from_dict(data, DreamerConfig)
    algo = cfg.algo
    print(algo.describe(), flush=True)
    env, env_params = envs.make(cfg.env.env_id)
    record = {"game": args.game, "model": cfg.model.name, "d_model": cfg.model.d_model, "num_envs": algo.num_envs,
              "steps_per_update": algo.steps_per_update, "grad_steps": algo.grad_steps,
              "batch": [algo.batch_size, algo.seq_len], "device": str(jax.devices()[0]), "cpus": os.cpu_count(),
              "load_before": os.getloadavg()[0]}
    start = time.perf_counter()
    runner, state = make_host_runner(make_train(cfg, env, env_params), jax.random.PRNGKey(0)[None], 1,
                                     Path("/tmp/bench_atari_unused"))
    record["compile_s"] = time.perf_counter() - start
    print(f"compiled (policy step + learn) in {record['compile_s']:.1f} s", flush=True)
    host, single = runner.train.host, jax.tree.map(lambda x: x[0], state)

    def collect(s):
        key, key_act = jax.random.split(s.key)
        acting, traj = host.act(key_act, host.params(s), s.acting)
        return s.replace(acting=acting, key=key), traj

    single, traj = collect(single)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.collect_updates):
        single, traj = collect(single)
        jax.block_until_ready(traj.action)
    record["collect_sps"] = args.collect_updates * algo.steps_per_update / (time.perf_counter() - t0)
    print(f"collection: {record['collect_sps']:.1f} agent steps/s", flush=True)
    times = []  # learn is compiled ahead of time, so the first call that trains is timed like the others
    while len(times) < args.train_updates:
        single, traj = collect(single)
        t0 = time.perf_counter()
        before = int(single.grad_steps_done)
        single, metrics = runner.learn(single, traj)
        jax.block_until_ready(metrics)
        if int(single.grad_steps_done) > before:  # calls that only store steps (replay filling) are not timed
            times.append(time.perf_counter() - t0)
    record["learn_s"] = statistics.median(times)
    record["train_sps"] = algo.steps_per_update / record["learn_s"]
    record["hours_per_game"] = BUDGET * (1 / record["collect_sps"] + 1 / record["train_sps"]) / 3600
    record["load_after"] = os.getloadavg()[0]
    print(f"training: {record['learn_s']:.2f} s per update of {algo.grad_steps} gradient steps = "
          f"{record['train_sps']:.2f} agent steps/s", flush=True)
    print(f"projected: {record['hours_per_game']:.1f} h per game ({BUDGET:,} agent steps; compile and final "
          f"evaluation not included); load {record['load_before']:.1f} -> {record['load_after']:.1f}", flush=True)
    print(json.dumps(record))
    if args.out:
        write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
