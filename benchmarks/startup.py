"""Cold starts and a run's fixed cost: a new worker process, ``hpsearch run --help``,
the whole quickstart.

Each command runs in a fresh Python process (medians of the repeats, seconds of
wall time), beside a bare ``python -c pass``, the import of NumPy (a worker's
floor: it trains the NumPy network, which does not import scikit-learn) and that
of scikit-learn's ``BaseEstimator`` (what a worker imported before). The
quickstart (``hpsearch run experiments/quickstart.toml``, 30 trials on 2 workers,
tables, PNG figures and the HTML report) runs on the catalog in the data cache
(HPSEARCH_DATA), each repeat into a new folder; without the catalog its row is
left out.

Usage: python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import tempfile
from pathlib import Path

import pandas as pd
from _common import median, report

from hpsearch.data.catalog import data_dir

QUICKSTART = "hpsearch run experiments/quickstart.toml"
QUICKSTART_CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.toml"

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import numpy (a worker's floor)": [sys.executable, "-c", "import numpy"],
    "import sklearn.base": [sys.executable, "-c", "import sklearn.base"],
    "worker: import its runtime and the objectives": [
        sys.executable, "-c", "import hpsearch.execution.backends, hpsearch.execution.objective"],
    "hpsearch run --help": [sys.executable, "-m", "hpsearch", "run", "--help"],
    "import hpsearch (the API)": [sys.executable, "-c", "import hpsearch; hpsearch.run"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    commands = dict(COMMANDS)
    with tempfile.TemporaryDirectory() as tmp:
        if (data_dir() / "catalog.csv").is_file():
            commands[QUICKSTART] = [sys.executable, "-m", "hpsearch", "run", str(QUICKSTART_CONFIG), "--quiet",
                                    "--out"]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for repeat in range(args.repeats):  # interleaved
            for name, command in commands.items():
                command = command + [str(Path(tmp) / f"run{repeat}")] if name == QUICKSTART else command
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
    report("startup", pd.DataFrame([{"command": name, "seconds": median(values), "repeats": args.repeats}
                                    for name, values in times.items()]))


if __name__ == "__main__":
    main()
