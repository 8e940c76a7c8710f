"""The memory numbers of ``ssmrl.world_model.memory_scores`` on hand-made curves: the error ratio to the mean-frame
reference (and "remembers" at a ratio of at most 0.5), the crossing gap (interpolated between measured gaps, at the
first gap where the model is already there, inf where it never crosses, NaN points left out)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssmrl.world_model.memory_scores import REMEMBERS_RATIO, crossing_gap, error_ratio, remembers


def test_error_ratio_and_remembers():
    # model 0.01 on the revisited frames, the mean frame 0.04 there: a quarter of the reference's error
    assert error_ratio(0.01, 0.04) == pytest.approx(0.25) and remembers(0.25)
    assert REMEMBERS_RATIO == 0.5 and remembers(error_ratio(0.02, 0.04))  # exactly half: remembers
    assert not remembers(error_ratio(0.03, 0.04))  # 0.75: better than the mean frame, not "remembers"
    assert error_ratio(0.05, 0.04) == pytest.approx(1.25)  # worse than the mean frame
    # elementwise; NaN where the reference has no error or a value is missing
    np.testing.assert_allclose(error_ratio(np.array([0.01, 0.02, np.nan]), np.array([0.02, 0.0, 0.1])),
                               [0.5, np.nan, np.nan])
    assert math.isnan(error_ratio(float("nan"), 0.04)) and not remembers(float("nan"))


def test_crossing_gap_interpolates_between_measured_gaps():
    gaps = np.array([2.0, 4.0, 8.0, 16.0])
    reference = np.array([0.05, 0.05, 0.05, 0.05])  # the mean frame: the same at every gap
    # model - reference: -0.04, -0.02, +0.02, +0.04: the sign changes between gaps 4 and 8, halfway in the
    # difference (-0.02 -> +0.02): 4 + (8 - 4) * 0.02 / 0.04 = 6
    model = np.array([0.01, 0.03, 0.07, 0.09])
    assert crossing_gap(gaps, model, reference) == pytest.approx(6.0)
    # a reference that rises with the gap (e.g. the last frame): model - reference: -0.03, -0.03, -0.01, +0.03:
    # between 8 and 16, a quarter of the way: 8 + 8 * 0.01 / 0.04 = 10
    assert crossing_gap(gaps, np.array([0.01, 0.03, 0.05, 0.08]),
                        np.array([0.04, 0.06, 0.06, 0.05])) == pytest.approx(10.0)
    # exactly equal at a measured gap: that gap
    assert crossing_gap(gaps, np.array([0.01, 0.05, 0.09, 0.09]), reference) == pytest.approx(4.0)
    # already at or above the reference at the first gap: the first gap
    assert crossing_gap(gaps, np.array([0.06, 0.07, 0.08, 0.09]), reference) == 2.0
    # below the reference everywhere measured: inf (the memory reaches at least gap 16)
    assert crossing_gap(gaps, np.full(4, 0.01), reference) == math.inf
    # a NaN point is left out: without gap 8, the crossing lies between 4 (-0.02) and 16 (+0.04): 4 + 12 / 3 = 8
    assert crossing_gap(gaps, np.array([0.01, 0.03, np.nan, 0.09]), reference) == pytest.approx(8.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        crossing_gap(gaps[::-1], model, reference)
    with pytest.raises(ValueError, match="one shape"):
        crossing_gap(gaps, model[:3], reference)
