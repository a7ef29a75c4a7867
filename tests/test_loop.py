"""The loop on its own: an in-process backend and objectives that train nothing."""

import numpy as np
import pytest

from hpsearch.config import Budget, parse
from hpsearch.errors import RunError
from hpsearch.execution.backends import InProcessBackend
from hpsearch.execution.store import TrialStore
from hpsearch.models.checkpoints import Checkpoints
from hpsearch.search.budget import Meter, Search
from hpsearch.search.loop import Session, epoch_handler, replay
from hpsearch.search.schedule import run_searches
from hpsearch.search.strategies import make_strategy
from hpsearch.search.trial import CONTINUE, STOP, TrialResult

SPACE = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 12, "grid": [4, 12]},
                         "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True,
                                           "grid": [0.01, 0.1, 1.0]}}}, "t").space


def fake(spec, dataset):
    """Validation value = learning rate; a curve of one value per epoch; fails at lr 1.0."""
    lr, epochs = spec.params["learning_rate"], spec.params["epochs"]
    if lr >= 1.0:
        raise ArithmeticError("too fast")
    curve = [lr + 1.0 / e for e in range(1, epochs + 1)]
    return TrialResult.from_spec(spec, val_loss=curve[-1], val_curve=curve,
                                 epochs_trained=epochs - spec.start_epoch)


def session(tmp_path, budget=Budget("trials", 6), **kw):
    return Session(TrialStore(tmp_path), Meter(budget, 100), fake, Checkpoints(tmp_path), 0, {}, **kw)


def searches(*names, trials=6):
    return [Search(make_strategy(n, SPACE, np.random.SeedSequence(1), max_trials=trials), 0, "rep0")
            for n in names]


def run(s, found):
    with InProcessBackend() as backend:
        backend.share({"rep0": None})
        return run_searches(s, found, backend)


def test_grid_answers_cost_nothing_and_every_trial_is_stored_once(tmp_path):
    s, found = session(tmp_path), searches("grid", "random")
    run(s, found)
    grid, random = found
    assert sorted(grid.finished) == list(range(6)) and sorted(random.finished) == list(range(6))
    answered = [r for r in grid.finished.values() if "epoch curve" in r.message]
    assert len(answered) == 2 and all(r.epochs_trained == 0 for r in answered)
    assert grid.epochs_spent == 12 * 2 + 1  # two trainers (12 each); the failed one trained none: 1
    failed = sorted((r for r in grid.finished.values() if r.status == "failed"), key=lambda r: r.trial)
    assert [r.message.split(" (")[0] for r in failed] == ["ArithmeticError: too fast", "trial 2"]
    records = TrialStore(tmp_path).read()
    assert len(records) == 12 and len({(r["strategy"], r["trial"]) for r in records}) == 12
    assert grid.best.trial == 0 and grid.best.value == pytest.approx(0.01 + 1 / 12)


def test_max_failures_stops_after_storing_the_last_failure(tmp_path):
    s = session(tmp_path, max_failures=0)
    with pytest.raises(RunError, match="1 trials failed, more than max_failures = 0"):
        run(s, searches("grid"))
    assert TrialStore(tmp_path).read()[-1]["status"] == "failed"


def test_a_replayed_run_asks_again_and_trains_nothing(tmp_path):
    first = searches("grid", "tpe")
    run(session(tmp_path), first)
    again, s = searches("grid", "tpe"), session(tmp_path)
    assert replay(s, again, TrialStore(tmp_path).read()) == 12
    s.objective = None  # training anything now would fail
    run(s, again)
    for a, b in zip(first, again):
        assert {t: r.params for t, r in a.finished.items()} == {t: r.params for t, r in b.finished.items()}
    assert len(TrialStore(tmp_path).read()) == 12


def test_an_epoch_budget_counts_epochs_trained(tmp_path):
    s, found = session(tmp_path, budget=Budget("epochs", 30)), searches("random", trials=None)
    run(s, found)
    spent = [found[0].finished[t].epochs_trained for t in sorted(found[0].finished)]
    assert sum(spent) >= 30 and sum(spent[:-1]) < 30


class Listener:
    def __init__(self):
        self.heard = []

    def on_epoch(self, trial, epoch, value):
        self.heard.append((trial, epoch, value))
        return STOP if value > 1 else CONTINUE


def test_epoch_reports_reach_the_strategy_of_their_search(tmp_path):
    found = searches("random", "grid")
    listener = Listener()
    found[1].strategy.on_epoch = listener.on_epoch
    handle = epoch_handler(session(tmp_path), found)
    assert handle(("grid", 0, 3), 2, 0.5) is False
    assert handle(("grid", 0, 3), 3, 1.5) is True
    assert listener.heard == [(3, 2, 0.5), (3, 3, 1.5)]
