"""The experiment grids: one engine (``engine``: units of work, their status from their records, plan and progress
lines, exit codes) under three kinds of unit: the RL grid, the world-model grid and the Atari 100k sweep.

* :mod:`ssmrl.benchmark.engine`: the engine every grid runs on;
* :mod:`ssmrl.benchmark.settings`: preset reading, the command line, the RL grid's settings;
* :mod:`ssmrl.benchmark.rl_grid`: the RL grid's cells (Hydra-composed configs run by the run layer) and report
  (``scripts/benchmark.py``); :mod:`~ssmrl.benchmark.trials` (per-trial meta-RL evaluation),
  :mod:`~ssmrl.benchmark.results` (a cell's numbers from its run dir: MMER, returns, timing, parameter counts, the
  memory diagnostics), :mod:`~ssmrl.benchmark.report` (``results.csv``, ``results.md``, the PNGs) and
  :mod:`~ssmrl.benchmark.sizing` (parameter counts, ``match_params``);
* :mod:`ssmrl.benchmark.wm_grid`: the world-model grid (presets with ``kind: world_model``: offline training and
  open-loop evaluation of ``ssmrl.world_model`` on every backbone), with :mod:`~ssmrl.benchmark.wm_settings`,
  :mod:`~ssmrl.benchmark.wm_speed` (throughput sweeps), :mod:`~ssmrl.benchmark.wm_references` and
  :mod:`~ssmrl.benchmark.wm_report`;
* :mod:`ssmrl.benchmark.atari_sweep`: the Atari 100k sweep (``scripts/atari100k.py``), with
  :mod:`~ssmrl.benchmark.atari_report` / :mod:`~ssmrl.benchmark.atari_scores` (human-normalised scores, bootstrap
  intervals, published agents' aggregates).

It sits above the run layer and receives the algorithms and the environment factories as arguments: it imports no
algorithm package and never ``envs``.
"""
