"""Shared fixtures of the core tests."""

import jax
import pytest


@pytest.fixture
def float64():
    """Run the test with float64 enabled (``jax.enable_x64``), so exact forms can be compared to ~1e-10."""
    with jax.enable_x64(True):
        yield
