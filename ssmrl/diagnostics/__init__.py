"""Memory diagnostics for every sequence core (and stacks of them) through the shared core interface:
empirical memory horizon, LTI spectra, input-dependent decays, state use, plots and a results-table row.
See ``ssmrl.diagnostics.memory`` for the overview."""

from ssmrl.diagnostics.decays import layer_decays, selective_decays
from ssmrl.diagnostics.figure import plot_diagnostics
from ssmrl.diagnostics.horizon import MemoryHorizon, horizon_from_norms, jacobian_norms, memory_horizon
from ssmrl.diagnostics.memory import Diagnostics, core_name, diagnose, results_row
from ssmrl.diagnostics.spectrum import (
    LTI_CORES,
    LinearSystem,
    Spectrum,
    hankel_singular_values,
    layer_spectra,
    lti_spectrum,
    markov_parameters,
    realisation,
)
from ssmrl.diagnostics.state_use import (
    StateUse,
    carry_features,
    covariance_eigenvalues,
    participation_ratio,
    state_use,
)

__all__ = [
    "LTI_CORES",
    "Diagnostics",
    "LinearSystem",
    "MemoryHorizon",
    "Spectrum",
    "StateUse",
    "carry_features",
    "core_name",
    "covariance_eigenvalues",
    "diagnose",
    "hankel_singular_values",
    "horizon_from_norms",
    "jacobian_norms",
    "layer_decays",
    "layer_spectra",
    "lti_spectrum",
    "markov_parameters",
    "memory_horizon",
    "participation_ratio",
    "plot_diagnostics",
    "realisation",
    "results_row",
    "selective_decays",
    "state_use",
]
