"""Redraw learning curves (mean return and min-max over seeds) from one or more run directories.

    python scripts/plot.py outputs/ppo/RepeatFirstEasy/s5/<time> outputs/ppo/RepeatFirstEasy/gru/<time> \
        --out outputs/compare.png --labels s5 gru
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssmrl.plotting import plot_runs, read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="run directories holding metrics.csv")
    parser.add_argument("--out", default="learning_curves.png",
                        help="PNG to write (a folder: <folder>/learning_curves.png)")
    parser.add_argument("--labels", nargs="*", help="one label per run directory (default: directory names)")
    parser.add_argument("--title", default=None, help="figure title")
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.run_dirs):
        parser.error(f"--labels needs {len(args.run_dirs)} labels, got {len(args.labels)}")
    try:
        for run_dir in args.run_dirs:
            check_metrics(run_dir)
    except ValueError as err:
        print(f"error: {err}")
        sys.exit(2)
    out = Path(args.out)
    if out.is_dir():
        out = out / "learning_curves.png"
    try:
        print(plot_runs(args.run_dirs, out, args.labels, args.title))
    except (OSError, ValueError) as err:
        print(f"error: cannot draw {out}: {err}")
        sys.exit(2)


def check_metrics(run_dir: str) -> None:
    """ValueError (one line naming the file) unless ``run_dir/metrics.csv`` is a readable CSV with logged rows."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{run_dir} holds no metrics.csv (not a run directory, or the run logged nothing)")
    try:
        metrics = read_metrics(run_dir)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a text CSV ({err.reason} at byte {err.start}); restore it from the run "
                         "or rerun") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read: {err}") from None
    if not metrics or "env_steps" not in metrics:
        raise ValueError(f"{path} holds no logged updates (empty or only a header); nothing to draw")

if __name__ == "__main__":
    main()
