"""Redraw learning curves (mean return and min-max over seeds) from one or more run directories.

    python scripts/plot.py outputs/ppo/RepeatFirstEasy/s5/<time> outputs/ppo/RepeatFirstEasy/gru/<time> \
        --out outputs/compare.png --labels s5 gru
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssmrl.plotting import plot_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="run directories holding metrics.csv")
    parser.add_argument("--out", default="learning_curves.png", help="PNG to write")
    parser.add_argument("--labels", nargs="*", help="one label per run directory (default: directory names)")
    parser.add_argument("--title", default=None, help="figure title")
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.run_dirs):
        parser.error(f"--labels needs {len(args.run_dirs)} labels, got {len(args.labels)}")
    missing = [d for d in args.run_dirs if not (Path(d) / "metrics.csv").is_file()]
    if missing:
        print(f"error: {missing[0]} holds no metrics.csv (not a run directory, or the run logged nothing)")
        sys.exit(2)
    try:
        print(plot_runs(args.run_dirs, args.out, args.labels, args.title))
    except (OSError, ValueError) as err:
        print(f"error: cannot draw {args.out}: {err}")
        sys.exit(2)


if __name__ == "__main__":
    main()
