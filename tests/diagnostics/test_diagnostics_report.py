"""The aggregate ``diagnose``, its results-table row and its PNG (``ssmrl.diagnostics.memory`` / ``plot``)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.core import make_core, make_stack
from ssmrl.diagnostics import (
    Diagnostics,
    Spectrum,
    StateUse,
    core_name,
    diagnose,
    horizon_from_norms,
    plot_diagnostics,
    results_row,
)

T, B, H = 12, 2, 4
KEYS = {"memory_horizon", "memory_crossing", "memory_peak", "memory_saturated", "state_use", "state_dim", "n_layers",
        "max_decay", "decay_horizon", "kernel_horizon", "hankel_sv_max", "hankel_order_99", "decay_mean",
        "decay_median", "decay_p10"}


def _diagnose(core):
    xs = jax.random.normal(jax.random.key(3), (T, B, H))
    params = jax.jit(core.init)(jax.random.key(4), core.initialize_carry(B), xs, jnp.zeros((T, B), bool))
    return diagnose(core, params, xs, max_lag=T - 1, lags=32)


@pytest.mark.parametrize(
    ("core", "name"),
    [(make_core("s5", H, state_size=2), "s5"), (make_stack("mamba", H, n_layers=2, state_size=2), "stack2:mamba"),
     (make_core("identity", H), "identity")],
)
def test_diagnose_row_and_png(tmp_path, core, name):
    diag = _diagnose(core)
    assert diag.name == core_name(core) == name
    row = results_row(diag)
    assert set(row) == KEYS
    assert isinstance(row["memory_horizon"], int) and isinstance(row["state_dim"], int)
    assert all(isinstance(v, (int, float, bool)) for v in row.values())
    assert row["memory_horizon"] == diag.horizon.horizon and row["state_dim"] == diag.state.state_dim
    lti, selective = name == "s5", "mamba" in name
    assert math.isnan(row["max_decay"]) != lti and math.isnan(row["decay_median"]) != selective
    if lti:
        assert row["max_decay"] == diag.spectra[0].max_decay < 1
    if selective:
        assert row["n_layers"] == 2 and 0 < row["decay_p10"] <= row["decay_median"] < 1
        # Per layer: decays [T, B, E = 2H = 8, N = 2]; carry conv [3, 8] + ssm [8, 2] = 40 features; no spectrum.
        assert [d.shape for d in diag.decays] == [(T * B * 8 * 2,)] * 2
        assert diag.state.state_dim == 2 * 40 and diag.spectra == [None, None]
    path = plot_diagnostics(diag, tmp_path / "plots" / f"{name}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_hankel_order_in_row_by_hand():
    # Hankel singular values (9, 0.95, 0.05): cumulative share 0.9, 0.995, 1 -> 2 values hold 99%;
    # (5, 4, 0.5, 0.5): 0.5, 0.9, 0.95, 1 -> 4. The row takes the maximum over layers.
    def spectrum(sv):
        return Spectrum("s5", np.array([0.5]), 0.5, 7.0, np.ones(3), None, np.array(sv))

    diag = Diagnostics("hand", horizon_from_norms([1.0, 0.0]), StateUse(np.array([3.0, 1.0]), 1.6, 2),
                       [spectrum([9.0, 0.95, 0.05]), None], [None, None])
    assert results_row(diag)["hankel_order_99"] == 2
    diag = Diagnostics("hand", diag.horizon, diag.state, [spectrum([9.0, 0.95, 0.05]), spectrum([5, 4, 0.5, 0.5])],
                       [None, None])
    row = results_row(diag)
    assert row["hankel_order_99"] == 4 and row["hankel_sv_max"] == 9.0 and math.isnan(row["kernel_horizon"])
    assert row["memory_horizon"] == 0 and row["state_use"] == 1.6
