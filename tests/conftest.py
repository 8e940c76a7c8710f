"""Settings of the whole test session: compile each XLA program once.

Most of the suite's time is XLA compilation of small programs, and many tests compile the same ones: a resume test
builds its algorithm again for every ``train`` call (as a new process would), and the script tests start a fresh
Python for each command. So the tests (never user runs: only pytest loads this file) use JAX's persistent
compilation cache, with JAX's own threshold: programs whose compilation took at least 1 s are stored, and each repeat
is a disk read (storing every program, however small, made the suite slower). It lives under pytest's cache
directory (``.pytest_cache/d/jax``; with ``-p no:cacheprovider`` a new temporary directory) and reaches the
subprocesses of the script tests through the environment, so they share it. The cache key holds the program, the
compile options and the versions of jax and jaxlib, so an entry is only reused for the identical program: a hit
returns the executable a fresh compilation would. Later runs of unchanged code reuse the entries (about 46 MB after
the whole suite). A developer's own ``JAX_COMPILATION_CACHE_DIR`` wins.

Most tests are compile-bound: tiny programs, or short runs whose compilation takes longer than their execution.
They run with ``jax_disable_most_optimizations`` (LLVM at -O0), which compiles about a third faster; the setting
is set before each test's fixtures and passed to the scripts' subprocesses (``JAX_DISABLE_MOST_OPTIMIZATIONS``).
Tests that execute long enough for the unoptimised code to cost more than it saves are marked ``optimized`` (and
every ``learning`` check is), and keep the optimisations users get. Measured on the 2 cores, whole slow tier
each way: the Atari smoke run 115 -> 253 s at -O0, the PPO learning checks 55 -> 106 s, while the run on 4
simulated devices went 100 -> 47 s and the host-side resume 67 -> 45 s. The setting is part of the compile
options, hence of the cache key.

XLA's CPU backend compiles each fused loop through its newer "fusion emitters" by default; the tests turn them off
(``--xla_cpu_use_fusion_emitters=false`` in ``XLA_FLAGS``, the older emitters of the same operations): measured on
the 2 cores, ``tests/core/test_invariants.py`` 146.8 -> 102.4 s, while an optimised learning check runs as fast
either way (57.9 / 56.7 s). A jaxlib that does not know the flag would abort at start-up, so one short process
tries it first; a developer's own ``XLA_FLAGS`` are kept and the flag is added to them.

Not used: ``pytest-xdist``: XLA already compiles and runs on both cores, so two workers mostly contend.
Measured: the whole suite took 37.3 min with ``-n 2`` against 34.9 serially; ``tests/core/test_invariants.py`` at
-O0 138.5 s against 153.6 s wall, but 253 against 198 CPU-seconds, a margin the rest of the suite did not keep.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest


def pytest_configure(config):
    cache = getattr(config, "cache", None)
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        directory = cache.mkdir("jax") if cache is not None else tempfile.mkdtemp(prefix="ssmrl-jax-cache-")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(directory)

    _add_xla_flag("--xla_cpu_use_fusion_emitters=false")

    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])


def _add_xla_flag(flag: str) -> None:
    """Add ``flag`` to ``XLA_FLAGS`` (read when JAX starts its backend, and by the scripts' subprocesses) unless the
    developer set it, if this jaxlib accepts it: XLA ends the process on a flag it does not know, so a short child
    process tries it first."""
    from ssmrl.benchmark.settings import apply_xla_flags

    if flag.split("=")[0] in os.environ.get("XLA_FLAGS", ""):
        return
    trial = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flag}", "JAX_PLATFORMS": "cpu"}
    probe = subprocess.run([sys.executable, "-c", "import jax; jax.devices()"], env=trial, capture_output=True)
    if probe.returncode == 0:
        apply_xla_flags(flag)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test is set up (module-scoped ones included): optimise only where marked."""
    import jax

    fast_compile = not any(item.get_closest_marker(name) for name in ("optimized", "learning"))
    jax.config.update("jax_disable_most_optimizations", fast_compile)
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1" if fast_compile else "0"  # the scripts' subprocesses
