"""Cold starts: what a new worker process and ``hpsearch run --help`` cost.

Each command runs in a fresh Python process (medians of the repeats, seconds of
wall time), beside a bare ``python -c pass`` and the import of scikit-learn's
``BaseEstimator``, which the network needs and which sets the floor of a worker.

Usage: python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import pandas as pd
from _common import median, report

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import sklearn.base (the network's floor)": [sys.executable, "-c", "import sklearn.base"],
    "worker: import its runtime and the objectives": [
        sys.executable, "-c", "import hpsearch.execution.backends, hpsearch.execution.objective"],
    "hpsearch run --help": [sys.executable, "-m", "hpsearch", "run", "--help"],
    "import hpsearch (the API)": [sys.executable, "-c", "import hpsearch; hpsearch.run"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):  # interleaved
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    report("startup", pd.DataFrame([{"command": name, "seconds": median(values), "repeats": args.repeats}
                                    for name, values in times.items()]))


if __name__ == "__main__":
    main()
