"""README's Speed table, rendered from the committed benchmark results.

Every figure in the table is read from a CSV in ``benchmarks/results/`` (written
by the scripts beside this one); ``tests/test_readme.py`` checks that README
shows exactly this table.

Usage: python benchmarks/speed_table.py     # prints the markdown table
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(RESULTS / f"{name}.csv")


def _by(table: pd.DataFrame, column: str, value):
    return table[table[column].astype(str) == str(value)].iloc[0]


def _simd(machine: str) -> str:
    """The SIMD level named in a results file's machine column."""
    if "NumPy SIMD found " not in machine:
        return "not recorded"
    found = machine.split("NumPy SIMD found ", 1)[1].split(";")[0].split(",")[0]
    return "AVX-512 (" + found + ")" if "X86_V4" in found else "AVX2 only (" + found + ")"


def _where(name: str) -> str:
    """The CPU and NumPy SIMD level a results file was measured with, for its rows."""
    machine = str(_read(name)["machine"].iloc[0])
    parts = [p.strip() for p in machine.split(",")]
    cpu = parts[1] if len(parts) > 1 and parts[0].endswith("cores") else parts[0]
    return f"{cpu}, NumPy SIMD {_simd(machine)}"


def rows() -> list[tuple[str, str, str, str, str]]:
    """(measurement, hpsearch, peer, ratio, goal) rows."""
    out = []
    for name in ("network", "network-avx2-only"):
        if not (RESULTS / f"{name}.csv").is_file():
            continue
        network = _read(name)
        simd = _simd(network["machine"].iloc[0])
        for batch in ("32", "256", "full"):
            r = _by(network, "batch_size", batch)
            shuffle = "no shuffle on either side" if batch == "full" else "shuffled"
            strict = (f", {r.floor_without_outer_multiple:.2f}x without its outer product"
                      if "floor_without_outer_multiple" in network else "")
            floor = (f"; {r.floor_multiple:.2f}x its kernel floor ({r.kernel_floor_ms_per_epoch:.2f} ms{strict}); "
                     f"float32 {r.hpsearch_float32_ms_per_epoch:.2f} ms = {r.float32_speedup_vs_sklearn:.2f}x"
                     if "floor_multiple" in network else "")
            out.append((f"network epoch, batch {batch} (18,700 x 4, 32 sigmoid units, {shuffle}), NumPy SIMD {simd}",
                        f"{r.hpsearch_ms_per_epoch:.2f} ms",
                        f"scikit-learn MLPRegressor {r.sklearn_ms_per_epoch:.2f} ms",
                        f"{r.speedup_vs_sklearn:.2f}x{floor}",
                        ">= 3x (32), >= 2x (256, full); <= 1.5x the floor"))
    population = _read("population")
    simd = _simd(population["machine"].iloc[0])
    for r in population.itertuples():
        forced = (f"; populations of 32 forced: {r.population_32_trials_per_second:.2f} = "
                  f"{r.population_32_speedup:.2f}x" if hasattr(r, "population_32_speedup") else "")
        out.append((f"quickstart search, {r.trials} trials, 1 worker, batch {r.batch_size}: trials/s, "
                    f"NumPy SIMD {simd}",
                    f"{r.default_trials_per_second:.2f} (default)",
                    f"population = 1: {r.population_1_trials_per_second:.2f}", f"{r.speedup:.2f}x{forced}",
                    ">= 2.5x at 32, >= 1.0x at 256"))
    optuna = _read("vs_optuna")
    for r in optuna.itertuples():
        out.append((f"24 configurations, 2 workers, batch {r.batch_size}: trials/s, {_where('vs_optuna')}",
                    f"{r.hpsearch_trials_per_second:.1f}",
                    f"Optuna, 2 processes on a JournalStorage {r.optuna_processes_trials_per_second:.1f}; "
                    f"threads {r.optuna_threads_trials_per_second:.1f}",
                    f"{r.ratio_vs_optuna_processes:.2f}x; {r.ratio_vs_optuna_threads:.2f}x", ">= 2x (processes)"))
    scaling = _read("scaling")
    for r in scaling[scaling["case"].str.startswith("quickstart")].itertuples():
        out.append((f"2 workers vs 1, {r.case}, {_where('scaling')}", f"{r.hpsearch_speedup_2_vs_1:.2f}x",
                    f"plain multiprocessing pool, same work: {r.machine_speedup_2_vs_1:.2f}x",
                    f"{r.share_of_machine_speedup:.2f} of the machine's", ">= 0.85"))
    small = _by(scaling, "case", "~10 ms trials, 2 workers, population = 1")
    out.append((f"engine overhead per trial, ~10 ms trials, {_where('scaling')}", f"{small.overhead_ms_per_trial:.2f} ms",
                "", "", "reported"))
    scale = _read("scale").iloc[0]
    out.append((f"{int(scale.trials):,} trials: wall per trial, last 1,000 vs first 1,000, {_where('scale')}",
                f"{scale.ms_per_trial_last_1000:.2f} vs {scale.ms_per_trial_first_1000:.2f} ms", "",
                f"{scale.last_vs_first:.2f}x", "within 1.2x"))
    startup = _read("startup").set_index("command")["seconds"]
    out.append((f"cold start of a worker (imports), {_where('startup')}",
                f"{startup['worker: import its runtime and the objectives']:.2f} s",
                f"floor: import numpy {startup['import numpy (a worker' + chr(39) + 's floor)']:.2f} s; "
                f"import sklearn.base {startup['import sklearn.base']:.2f} s", "", "reported"))
    if "hpsearch run experiments/quickstart.toml" in startup:
        out.append((f"quickstart, whole run (30 trials, 2 workers, tables, PNG figures, report), {_where('startup')}",
                    f"{startup['hpsearch run experiments/quickstart.toml']:.2f} s", "", "", "<= 5 s"))
    out.append((f"`hpsearch run --help`, {_where('startup')}", f"{startup['hpsearch run --help']:.2f} s",
                f"python -c pass {startup['python -c pass']:.2f} s", "", "reported"))
    store = _read("store").set_index("store")
    ours = store.iloc[0]
    journal = store[store.index.str.contains("Journal")].iloc[0]
    sqlite = store[store.index.str.contains("SQLite|RDB", regex=True)].iloc[0]
    out.append((f"durable store, per trial, {_where('store')}", f"{ours.ms_per_trial_median:.2f} ms",
                f"Optuna JournalStorage {journal.ms_per_trial_median:.2f} ms, SQLite {sqlite.ms_per_trial_median:.1f} ms",
                f"{journal.ratio_to_hpsearch:.1f}x, {sqlite.ratio_to_hpsearch:.0f}x", "reported"))
    return out


def render() -> str:
    lines = ["| measurement | hpsearch | peer | ratio | goal |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
