"""The evaluation contract and the worker-side runner around it."""

import numpy as np
import pytest

from hpsearch.data.features import Dataset
from hpsearch.execution.objective import train_and_score
from hpsearch.execution.worker import report_epoch, run_trials
from hpsearch.search.trial import TrialResult, TrialSpec


def tiny_dataset(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1]
    return Dataset(X[:120], y[:120], X[120:160], y[120:160], X[160:], y[160:], ("a", "b"))


def spec(trial=0, **kw):
    params = kw.pop("params", {"epochs": 8, "learning_rate": 0.3})
    return TrialSpec("random", 0, trial, trial, params, 42, "rep0", {"batch_size": 16}, **kw)


def raises(spec, dataset):
    raise ValueError("bad luck")


def returns_a_number(spec, dataset):
    return 0.5


class StopAt:
    def __init__(self, epoch):
        self.epoch, self.seen = epoch, []

    def report(self, key, epoch, value):
        self.seen.append((key, epoch))
        return epoch >= self.epoch


def test_an_exception_becomes_a_failed_trial_saying_where():
    [result] = run_trials(raises, [spec()], tiny_dataset())
    assert result.status == "failed" and result.message.startswith("ValueError: bad luck (test_objective.py:")
    assert result.seconds >= 0 and result.params == spec().params


def test_an_objective_must_return_a_trial_result():
    [result] = run_trials(returns_a_number, [spec()], tiny_dataset())
    assert result.status == "failed" and "returned float, expected a TrialResult" in result.message


def test_several_specs_in_one_call_each_timed():
    results = run_trials(train_and_score, [spec(0), spec(1, with_test=True)], tiny_dataset())
    assert [r.trial for r in results] == [0, 1]
    assert all(r.status == "ok" and r.seconds > 0 and r.epochs_trained == 8 for r in results)
    assert np.isnan(results[0].test_loss) and np.isfinite(results[1].test_loss)
    assert results[0].val_loss == results[0].val_curve[-1]


def test_epoch_reports_reach_the_channel_and_a_stop_ends_training():
    channel = StopAt(3)
    [stopped] = run_trials(train_and_score, [spec(report_epochs=True)], tiny_dataset(), channel)
    assert channel.seen == [(("random", 0, 0), e) for e in (1, 2, 3)]
    assert stopped.params["epochs"] == 8 and stopped.epochs_trained == 3 == len(stopped.val_curve)  # proposal kept
    assert stopped.status == "stopped" and stopped.message.startswith("stopped after epoch 3 of 8")
    silent = StopAt(3)
    [full] = run_trials(train_and_score, [spec()], tiny_dataset(), silent)  # not asked to report
    assert silent.seen == [] and full.epochs_trained == 8
    assert full.val_curve[:3] == stopped.val_curve


def test_report_epoch_outside_a_trial_never_stops():
    assert report_epoch(1, 0.5) is False


def test_continuing_from_a_saved_state_equals_training_straight_through(tmp_path):
    state = str(tmp_path / "s.npz")
    data = tiny_dataset()
    first = train_and_score(spec(params={"epochs": 3, "learning_rate": 0.3}, save_state=state), data)
    rest = train_and_score(spec(params={"epochs": 8, "learning_rate": 0.3}, load_state=state, start_epoch=3), data)
    straight = train_and_score(spec(), data)
    assert first.epochs_trained == 3 and rest.epochs_trained == 5
    assert rest.val_loss == straight.val_loss and rest.val_curve == straight.val_curve


def test_a_diverged_trial_has_no_value():
    result = train_and_score(spec(params={"epochs": 30, "learning_rate": 1e6}), tiny_dataset())
    assert result.status == "diverged" and result.value is None
    assert isinstance(result, TrialResult) and "non-finite" in result.message


@pytest.mark.parametrize("objective", [raises, returns_a_number])
def test_the_runner_never_raises(objective):
    assert run_trials(objective, [spec(), spec(1)], tiny_dataset())[1].status == "failed"


def test_a_network_too_big_for_the_machine_fails_alone_without_allocating():
    [result] = run_trials(train_and_score, [spec(params={"epochs": 1, "hidden_width": 10**9})], tiny_dataset())
    assert result.status == "failed" and "GiB, more than 50% of this machine's" in result.message


def test_a_time_limit_stops_at_the_next_epoch():
    [result] = run_trials(train_and_score, [spec(params={"epochs": 10**6, "learning_rate": 0.1},
                                                 time_limit=0.2)], tiny_dataset())
    assert result.message.startswith("stopped by the seconds budget after epoch")
    assert 0 < result.epochs_trained < 10**6 and result.seconds < 3
