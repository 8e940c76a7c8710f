"""Dreamer throughput per sequence core: the world-model update and imagination, with compile times and XLA's
planned memory.

For each core and sequence length T (batch B of replayed sequences, a world model of width ``--width``):

- world-model update: replayed steps (B x T) per second of the world model's jitted training step
  (``ssmrl.world_model.step``: loss, gradient, clipped Adam at ``DreamerConfig``'s settings), median over
  ``--repeats`` calls after a warm-up call, the parameters and optimiser state fed back as in training;
- imagination: imagined states per second of ``imagine`` (``--horizon`` steps from each of the B x T posterior
  states of the batch, actions from a fresh actor);
- compile seconds of each (``jax.jit(...).lower(...).compile()``, timed alone);
- planned memory of the update: temporaries + arguments + outputs from ``compiled.memory_analysis()``, the
  buffer sizes XLA plans for the program, not a measured peak ("-" where the backend does not report it).

It also prints the ratio S5 / GRU of the update's steps/s at each T (when both cores are run). The observation is
a float vector of 8 (``--image``: a 64x64x3 uint8 frame on the CNN encoder), 4 discrete actions; the data are
random with episode starts at rate ``--reset-prob``. Prints a table and writes JSON (one record per setting with
the load average before and after it, plus the device, CPU count and jax version). Runs on whatever device jax
picks (CPU or GPU) unchanged.

    python scripts/bench_dreamer.py                    # 6 cores x T = 64, 256, 1024 (about 15 min on 2 CPUs)
    python scripts/bench_dreamer.py --cores s5 gru --lengths 256 --repeats 5 --out outputs/bench/quick.json
    python scripts/bench_dreamer.py --image --cores s5 --lengths 64
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmrl.core import available_cores, make_stack
from ssmrl.dreamer.config import DreamerConfig
from ssmrl.dreamer.imagine import Actor, imagine
from ssmrl.env import Box, Discrete
from ssmrl.nets import space_spec
from ssmrl.output import number_text, write_json
from ssmrl.world_model.batch import ReplayBatch
from ssmrl.world_model.build import build_world_model
from ssmrl.world_model.model import init_world_model, world_model_loss
from ssmrl.world_model.step import make_world_model_step
from ssmrl.xla_memory import compiled_memory, planned_mb

DEFAULT_CORES = ["s5", "s4", "lru", "mamba", "gru", "transformer"]


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", nargs="+", default=DEFAULT_CORES, help=f"from {available_cores()}")
    parser.add_argument("--lengths", nargs="+", type=int, default=[64, 256, 1024], help="sequence lengths T")
    parser.add_argument("--batch", type=int, default=16, help="replayed sequences B")
    parser.add_argument("--width", type=int, default=64, help="d_model of the core stack")
    parser.add_argument("--layers", type=int, default=2, help="layers of the core stack")
    parser.add_argument("--hidden", type=int, default=128, help="width of the MLP heads, encoder and actor")
    parser.add_argument("--groups", type=int, default=16, help="latent groups")
    parser.add_argument("--classes", type=int, default=16, help="latent classes per group")
    parser.add_argument("--posterior", default="s4wm", choices=["s4wm", "recurrent"])
    parser.add_argument("--horizon", type=int, default=15, help="imagination horizon")
    parser.add_argument("--image", action="store_true", help="64x64x3 uint8 observations (CNN) instead of 8 floats")
    parser.add_argument("--reset-prob", type=float, default=0.005, help="chance of an episode start per step")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up call")
    parser.add_argument("--out", default="outputs/bench/bench_dreamer.json", help="JSON file to write")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cores) - set(available_cores()))
    if unknown:
        parser.error(f"unknown core(s) {unknown}; valid: {available_cores()}")
    if min(args.lengths) < 1 or args.batch < 1 or args.repeats < 1 or args.horizon < 1:
        parser.error("--lengths, --batch, --repeats and --horizon must be >= 1")
    return args


def _compile(fn, args: tuple) -> tuple[Any, float]:
    """(compiled program, compile seconds) of ``jax.jit(fn)`` for these arguments."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def _batch(seed: int, obs_space, length: int, batch: int, reset_prob: float) -> ReplayBatch:
    """Random replayed sequences [T, B] (made on the host): episode starts at ``reset_prob`` (always at t = 0), the
    step before each later start terminal, previous action and reward zero at starts."""
    rng = np.random.default_rng(seed)
    shape = (length, batch) + tuple(obs_space.shape)
    if np.dtype(obs_space.dtype) == np.uint8:
        obs = rng.integers(0, 256, shape, np.uint8)
    else:
        obs = rng.normal(size=shape).astype(np.float32)
    is_first = rng.uniform(size=(length, batch)) < reset_prob
    is_first[0] = True
    terminated = np.concatenate([is_first[1:], np.zeros((1, batch), bool)], 0)
    keep = ~is_first
    action = (rng.integers(0, 4, (length, batch)) * keep).astype(np.int32)
    reward = (rng.normal(size=(length, batch)) * keep).astype(np.float32)
    return jax.device_put(ReplayBatch(obs, action, reward, is_first, terminated, np.zeros((length, batch), bool)))


@functools.cache
def _models(core: str, width: int, layers: int, hidden: int, groups: int, classes: int, image: bool,
            posterior: str) -> dict:
    """The world model, actor, optimiser and their initial parameters for one configuration (built once and
    reused across lengths: parameters do not depend on T)."""
    action_space = Discrete(4)
    if image:
        obs_space = Box(0, 255, (64, 64, 3), jnp.uint8)
        scale = {"image_scale": 255.0, "image_shift": 0.5}
    else:
        obs_space = Box(-np.inf, np.inf, (8,), jnp.float32)
        scale = {}
    algo = dataclasses.replace(DreamerConfig(), latent_groups=groups, latent_classes=classes, hidden=hidden,
                               posterior=posterior, **scale)
    model = build_world_model(algo, obs_space, action_space, make_stack(core, width, n_layers=layers))
    actor = Actor(space_spec(action_space), hidden=hidden, layers=algo.mlp_layers)
    tx, step = make_world_model_step(algo, model)

    @jax.jit
    def init(key):
        k_wm, k_actor = jax.random.split(key)
        params = init_world_model(k_wm, model)
        actor_params = actor.init(k_actor, jnp.zeros((1, width + groups * classes)))
        return params, actor_params, tx.init(params)

    params, actor_params, opt_state = init(jax.random.key(0))
    loss_fn = lambda p, b, k: world_model_loss(k, p, b, model=model, dyn_scale=algo.dyn_scale,
                                               rep_scale=algo.rep_scale, free_bits=algo.free_bits)
    return {"obs_space": obs_space, "model": model, "actor": actor, "step": step, "loss_fn": loss_fn,
            "params": params, "actor_params": actor_params, "opt_state": opt_state}


def bench_setting(core: str, length: int, batch: int, width: int = 64, layers: int = 2, hidden: int = 128,
                  groups: int = 16, classes: int = 16, image: bool = False, posterior: str = "s4wm",
                  horizon: int = 15, reset_prob: float = 0.005, repeats: int = 3) -> dict:
    """One setting: compile and time the world-model update and imagination; returns the JSON record."""
    load_before = os.getloadavg()
    wall = time.perf_counter()
    m = _models(core, width, layers, hidden, groups, classes, image, posterior)
    model, actor, step, loss_fn = m["model"], m["actor"], m["step"], m["loss_fn"]
    params, actor_params, opt_state = m["params"], m["actor_params"], m["opt_state"]
    data = _batch(length, m["obs_space"], length, batch, reset_prob)
    k_loss, k_imagine = jax.random.split(jax.random.key(1))
    loss_keys, imagine_keys = list(jax.random.split(k_loss, repeats)), list(jax.random.split(k_imagine, repeats))

    def update(params, opt_state, data, key):
        params, opt_state, aux, _ = step(params, opt_state, data, key)
        return params, opt_state, aux.metrics

    wm_compiled, wm_compile_s = _compile(update, (params, opt_state, data, k_loss))
    state = wm_compiled(params, opt_state, data, k_loss)  # warm-up
    jax.block_until_ready(state)
    wm_runs = []
    for i in range(repeats):
        start = time.perf_counter()
        state = wm_compiled(state[0], state[1], data, loss_keys[i])
        jax.block_until_ready(state)
        wm_runs.append(time.perf_counter() - start)
    metrics = jax.device_get(state[2])

    # The B x T posterior states to imagine from. Not timed; LLVM -O0 since it runs once (a faster compile).
    starts = jax.jit(lambda p, b, k: loss_fn(p, b, k)[1].start,
                     compiler_options={"xla_backend_optimization_level": 0})(params, data, k_loss)
    dream = lambda wp, ap, s, k: imagine(k, wp, ap, s, horizon, world_model=model, actor=actor)
    im_compiled, im_compile_s = _compile(dream, (params, actor_params, starts, k_imagine))
    jax.block_until_ready(im_compiled(params, actor_params, starts, k_imagine))  # warm-up
    im_runs = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(im_compiled(params, actor_params, starts, imagine_keys[i]))
        im_runs.append(time.perf_counter() - start)

    wm_s, im_s = statistics.median(wm_runs), statistics.median(im_runs)
    return {
        "core": core, "T": length, "B": batch, "width": width, "layers": layers, "hidden": hidden,
        "latent": f"{groups}x{classes}", "obs": "image 64x64x3 uint8" if image else "vector 8",
        "posterior": posterior, "horizon": horizon, "repeats": repeats,
        "wm_steps_per_s": length * batch / wm_s, "wm_run_ms": 1e3 * wm_s, "wm_compile_s": wm_compile_s,
        "wm_planned_memory_bytes": compiled_memory(wm_compiled), "wm_loss": float(metrics["loss"]),
        "imagine_states_per_s": length * batch * horizon / im_s, "imagine_run_ms": 1e3 * im_s,
        "imagine_compile_s": im_compile_s, "imagine_planned_memory_bytes": compiled_memory(im_compiled),
        "wall_s": time.perf_counter() - wall, "load_before": list(load_before), "load_after": list(os.getloadavg()),
    }


def s5_gru_ratios(records: list[dict]) -> dict[str, float]:
    """S5 / GRU world-model update steps/s at each T where both were run: {"T": ratio}."""
    by = {(r["core"], r["T"]): r["wm_steps_per_s"] for r in records}
    return {str(t): by[("s5", t)] / by[("gru", t)] for (core, t) in by if core == "s5" and ("gru", t) in by}


def main(argv: list[str] | None = None) -> dict:
    """Run every setting, print the table and the S5 / GRU ratios, write the JSON; returns what it wrote."""
    from rich.console import Console
    from rich.table import Table

    args = _args(argv)
    device = jax.devices()[0]
    print(f"jax {jax.__version__} on {device.device_kind} ({os.cpu_count()} CPUs), load {os.getloadavg()}",
          flush=True)
    wall = time.perf_counter()
    records = []
    for length in args.lengths:
        for core in args.cores:
            rec = bench_setting(core, length, args.batch, args.width, args.layers, args.hidden, args.groups,
                                args.classes, args.image, args.posterior, args.horizon, args.reset_prob,
                                args.repeats)
            records.append(rec)
            print(f"{core} T={length}: wm {rec['wm_steps_per_s']:,.0f} steps/s (compile {rec['wm_compile_s']:.1f} s),"
                  f" imagine {rec['imagine_states_per_s']:,.0f} states/s (compile {rec['imagine_compile_s']:.1f} s),"
                  f" load {rec['load_after'][0]:.2f}", flush=True)
    obs = "64x64x3 uint8 image" if args.image else "8-float vector"
    table = Table(title=f"Dreamer world model on {device.device_kind}: B={args.batch}, width {args.width}, "
                        f"{args.layers} layers, hidden {args.hidden}, latents {args.groups}x{args.classes}, {obs}, "
                        f"horizon {args.horizon}, median of {args.repeats}")
    for col in ("T", "core", "WM steps/s", "WM ms", "WM compile s", "WM planned MB*", "imagine states/s",
                "imagine ms", "imagine compile s"):
        table.add_column(col, justify="right")
    for r in records:
        table.add_row(str(r["T"]), r["core"], f"{r['wm_steps_per_s']:,.0f}", f"{r['wm_run_ms']:,.1f}",
                      f"{r['wm_compile_s']:.1f}", number_text(planned_mb(r["wm_planned_memory_bytes"]), ",.1f"),
                      f"{r['imagine_states_per_s']:,.0f}", f"{r['imagine_run_ms']:,.1f}",
                      f"{r['imagine_compile_s']:.1f}")
    Console(width=160).print(table)
    print("* XLA's plan (temporaries + arguments + outputs of the update), not a measured peak")
    ratios = s5_gru_ratios(records)
    for t, ratio in ratios.items():
        print(f"S5 / GRU world-model steps/s at T={t}: {ratio:.2f}")
    total_s = time.perf_counter() - wall
    print(f"total {total_s:.0f} s, load {os.getloadavg()}")
    meta = {"device": str(device), "device_kind": device.device_kind, "platform": device.platform,
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()), "jax": jax.__version__,
            "total_s": total_s, "args": vars(args)}
    result = {"meta": meta, "results": records, "s5_over_gru_wm_steps_per_s": ratios}
    out = write_json(args.out, result)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
