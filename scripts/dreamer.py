"""Train Dreamer: an S4WM-style world model on any registered core and an actor-critic in its imagination.

    python scripts/dreamer.py                                   # POPGym RepeatFirstEasy, S5 world model, defaults
    python scripts/dreamer.py env=popgym env.task=RepeatPreviousEasy model=gru seed=3 num_seeds=4
    python scripts/dreamer.py env=gymnax env.task=CartPole-v1 algo.total_timesteps=100000
    python scripts/dreamer.py experiment=debug                  # the whole pipeline in seconds
    python scripts/dreamer.py resume=outputs/dreamer/RepeatFirstEasy/s5/<time>   # continue that run

Arguments are Hydra overrides of configs/dreamer.yaml. Writes under ``run_dir`` (absent or empty for a new run):
config.yaml (resolved), tb/ (tensorboard events), checkpoints/, metrics.csv, learning_curve.png, summary.json.
``resume=<run_dir>`` (or ``run_dir=`` pointing at a run) continues from its newest intact checkpoint with the
configuration saved there. Mistakes print one line and exit with status 2; Ctrl-C saves, prints the command that
resumes and exits with 130; SIGTERM (timeout, docker stop, a scheduler's preemption) does the same with 143.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:  # Ctrl-C while the libraries load: one line, not a traceback
    import envs
    from ssmrl.cli import run_script
    from ssmrl.dreamer.config import DreamerConfig
    from ssmrl.dreamer.train import make_train
except KeyboardInterrupt:
    print("interrupted before anything started")
    sys.exit(130)

if __name__ == "__main__":
    run_script(Path(__file__).resolve().parents[1] / "configs", "dreamer", DreamerConfig, make_train, envs.make,
               envs.available, usage=__doc__)
