"""Run by tests/runners/test_devices.py in a subprocess with 4 simulated CPU devices: trains tiny PPO runs on all
4 devices and on one, and writes what the test checks (placement, metrics of both) as JSON to argv[1]."""

import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"

import csv  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402
from ssmrl.acting import ActingState  # noqa: E402
from ssmrl.ppo.config import ppo_run_config  # noqa: E402
from ssmrl.ppo.train import make_train  # noqa: E402
from ssmrl.runners.loop import train  # noqa: E402


def _rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("sps", "wall_s")} for r in csv.DictReader(f)]


def _devices_per_leaf(tree):
    return sorted({len(leaf.sharding.device_set) for leaf in jax.tree.leaves(tree)})


def main(out_path: str) -> None:
    env, env_params = envs.make("popgym/RepeatFirstEasy")
    base = {"algo": {"num_envs": 8, "num_steps": 8, "num_minibatches": 2, "num_epochs": 1, "total_timesteps": 8 * 24},
            "model": {"name": "s5", "d_model": 8, "n_layers": 1, "state_size": 4},
            "logger": {"progress": False, "tensorboard": False, "plot": False},
            "runner": {"updates_per_call": 2, "checkpoint_every": 100, "eval_envs": 4, "eval_steps": 64}}
    report = {"device_count": jax.device_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, seeds in (("seeds", 4), ("envs", 1)):
            cfg = ppo_run_config({**base, "num_seeds": seeds})
            many = train(cfg, make_train, env, env_params, tmp / f"{name}_many")
            one = train(cfg, make_train, env, env_params, tmp / f"{name}_one", devices=jax.devices()[:1])
            acting = jax.tree.leaves(many.state.acting)
            report[name] = {
                "params_devices": _devices_per_leaf(many.state.params),
                "acting_devices": _devices_per_leaf(many.state.acting),
                "acting_spec": str(acting[0].sharding.spec),
                "one_device": _devices_per_leaf(one.state),
                "rows_many": _rows(tmp / f"{name}_many"), "rows_one": _rows(tmp / f"{name}_one"),
                "max_param_diff": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                                      for a, b in zip(jax.tree.leaves(many.state.params),
                                                      jax.tree.leaves(one.state.params), strict=True)),
                "eval_many": many.eval_return, "eval_one": one.eval_return,
                "is_acting": isinstance(many.state.acting, ActingState),
            }
    Path(out_path).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
