"""The memory benchmark (``scripts/benchmark.py``): a grid of algorithm x model x task cells run with the shared
run layer, and its report.

* :mod:`ssmrl.benchmark.settings`: presets and command-line settings;
* :mod:`ssmrl.benchmark.rl_grid`: cells (Hydra-composed configs), resumable running and the report;
* :mod:`ssmrl.benchmark.trials`: per-trial meta-RL evaluation;
* :mod:`ssmrl.benchmark.results`: a cell's numbers from its run dir (MMER, final and evaluation returns, timing,
  parameter counts) and the hook to the memory diagnostics (``ssmrl.diagnostics``);
* :mod:`ssmrl.benchmark.report`: ``results.csv``, ``results.md`` and the PNGs;
* :mod:`ssmrl.benchmark.sizing`: parameter counts and ``match_params``;
* :mod:`ssmrl.benchmark.atari_report` / :mod:`ssmrl.benchmark.atari_scores`: the Atari 100k report of
  ``scripts/atari100k.py`` (human-normalised scores, bootstrap intervals, published agents' aggregates).

It sits above the run layer and receives the algorithms and the environment factory as arguments: it imports no
algorithm package and never ``envs``.
"""
