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

The tests not marked ``slow`` are tiny programs whose time is compiling them (about 80% of it, measured with JAX's
compile-time events), so they run with ``jax_disable_most_optimizations`` (LLVM at -O0): their compilation takes
about a third less time. The ``slow`` tests (whole runs, learning checks) execute enough that the unoptimised code
costs more than it saves (a PPO learning check 38 s -> 91 s, the Atari smoke run 107 s -> over 6 min at -O0), so
they keep the optimisations users get. The setting is part of the compile options, hence of the cache key.

Not used: ``pytest-xdist``: the suite already keeps both cores busy (XLA runs programs on a thread pool and compiles
beside Python), and two workers took 37.3 min against 34.9 serially.
"""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config):
    cache = getattr(config, "cache", None)
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        directory = cache.mkdir("jax") if cache is not None else tempfile.mkdtemp(prefix="ssmrl-jax-cache-")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(directory)

    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test is set up (module-scoped ones included): optimise only for ``slow`` tests."""
    import jax

    jax.config.update("jax_disable_most_optimizations", item.get_closest_marker("slow") is None)
