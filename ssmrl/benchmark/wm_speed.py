"""The world-model grid's throughput sweeps (one per model, ``ssmrl.benchmark.wm_grid``): on a freshly initialised
world model, ``train_throughput`` on zero batches [T, B] and ``imagine_throughput`` at K = T for each T of
``speed_lengths``; a failure at one T (e.g. out of memory) is recorded there, not raised. Written to
``<out_dir>/wm/speed/<model>/speed.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from ssmrl.benchmark.wm_report import SPEED_FILE
from ssmrl.benchmark.wm_settings import ModelSpec, WMSettings
from ssmrl.output import count_text, number_text, write_json
from ssmrl.world_model.batch import ReplayBatch
from ssmrl.world_model.model import dummy_inputs
from ssmrl.world_model.offline import Offline, train_throughput
from ssmrl.world_model.openloop import imagine_throughput
from ssmrl.xla_memory import planned_mb


@dataclass(frozen=True, eq=False)
class SpeedUnit:
    """One model's throughput sweep on the spaces of ``task``; dir: ``<out_dir>/wm/speed/<model>``."""

    model: str
    spec: ModelSpec
    task: str
    dir: Path

    @property
    def label(self) -> str:
        return f"speed {self.model}"


def speed_batch(settings: WMSettings, spec: ModelSpec) -> int:
    """B of the sweep: ``speed_batch``, else the model's training batch size."""
    return settings.speed_batch or spec.offline.batch_size


def speed_describe(settings: WMSettings, unit: SpeedUnit) -> dict:
    """Everything a sweep's numbers depend on (saved in its speed.json, compared on resume)."""
    return {"model": unit.model, **unit.spec.describe(), "task": unit.task,
            "task_kwargs": settings.task_kwargs.get(unit.task) or {}, "lengths": list(settings.speed_lengths),
            "batch": speed_batch(settings, unit.spec), "repeats": settings.speed_repeats, "seed": settings.seed,
            **({} if settings.obs_mode == "pixels" else {"obs_mode": settings.obs_mode})}


def zero_batch(offline: Offline, obs_space: Any, length: int, batch_size: int) -> ReplayBatch:
    """A replay batch [length, batch_size, ...] of zeros in the data's dtypes (throughput does not depend on
    values); is_first at step 0."""
    action = dummy_inputs(offline.world_model, length, batch_size)["action"]
    flags = jnp.zeros((length, batch_size), bool)
    return ReplayBatch(obs=jnp.zeros((length, batch_size, *obs_space.shape), obs_space.dtype), action=action,
                       reward=jnp.zeros((length, batch_size), jnp.float32), is_first=flags.at[0].set(True),
                       terminated=flags, truncated=flags)


def run_speed(unit: SpeedUnit, offline: Offline, obs_space: Any, settings: WMSettings, key: jax.Array) -> dict:
    """The model's sweep (module docstring) on ``offline`` initialised with ``key``; writes and returns its
    speed.json record {"spec", "status", "model", "points": [{"T", "B", train_* and imagine_* figures or "error"}]}."""
    batch = speed_batch(settings, unit.spec)
    state = offline.init(key)
    points = []
    for length in settings.speed_lengths:
        point: dict[str, Any] = {"T": length, "B": batch}
        try:
            train = train_throughput(offline, state, zero_batch(offline, obs_space, length, batch),
                                     settings.speed_repeats)
            point.update(train_steps_per_s=train["steps_per_s"], train_compile_s=train["compile_s"],
                         train_planned_mb=planned_mb(train["memory"]))
            (imagine,) = imagine_throughput(offline.world_model, state.params, batch, [length],
                                            repeats=settings.speed_repeats)
            point.update(imagine_steps_per_s=imagine["steps_per_s"], imagine_compile_s=imagine["compile_s"],
                         imagine_planned_mb=planned_mb(imagine["memory"]))
        except Exception as err:  # e.g. out of memory at a long T: the sweep is an add-on, keep the grid going
            point["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        points.append(point)
    record = {"spec": speed_describe(settings, unit), "status": "ok", "model": unit.model, "points": points}
    write_json(unit.dir / SPEED_FILE, record)
    return record


def speed_line(index: int, total: int, unit: SpeedUnit, record: dict) -> str:
    """The progress line of a finished sweep."""
    parts = [f"T={p['T']} " + (p["error"] if "error" in p else f"train {count_text(p['train_steps_per_s'])} / "
                               f"imagine {count_text(p['imagine_steps_per_s'])} steps/s, "
                               f"{number_text(p['train_planned_mb'], '.0f')} MB") for p in record["points"]]
    return f"[{index}/{total}] {unit.label} (B {record['spec']['batch']}): " + "; ".join(parts)
