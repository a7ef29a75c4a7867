"""What continuing your own objective saves: ASHA on the diabetes data (epochs 1-27, a budget of
400 epochs, one repetition) with examples/own_objective.py's ``train``, which reports its state,
against the same function without a state (promoted configurations then train again from
scratch). Writes benchmarks/results/continuation.csv.

    python benchmarks/continuation.py
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pandas as pd

import hpsearch

HERE = Path(__file__).resolve().parent


def main() -> pd.DataFrame:
    spec = importlib.util.spec_from_file_location("own_objective", HERE.parent / "examples" / "own_objective.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    config = {**example.CONFIG, "strategies": ["asha"], "repetitions": 1, "budget": {"epochs": 400},
              "space": {**example.CONFIG["space"], "epochs": {"type": "int", "low": 1, "high": 27}}}

    def stateless(params, data, seed, report):
        return example.train(params, data, seed, lambda epoch, value, state=None: report(epoch, value))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, function in (("with state", example.train), ("without state", stateless)):
            run = hpsearch.run(config, objective=function, out=Path(tmp) / name.replace(" ", "-"))
            t = run.trials
            rows.append({"objective": name, "trials": len(t), "continued": int((t["start_epoch"] > 0).sum()),
                         "epochs_trained": int(t["epochs_trained"].sum()),
                         **{f"trials_at_{e}": int((t["epochs"] == e).sum()) for e in (1, 3, 9, 27)},
                         "best_val_rmse": round(float(run.summary["best_val_rmse"].iloc[0]), 4)})
    table = pd.DataFrame(rows)
    (HERE / "results").mkdir(exist_ok=True)
    table.to_csv(HERE / "results" / "continuation.csv", index=False)
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
