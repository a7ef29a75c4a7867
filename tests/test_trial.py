"""The trial schema: one list of fields, records that round-trip, table columns."""

import math

from hpsearch.search.trial import TIMING_COLUMNS, TrialResult, TrialSpec, table_columns


def spec(**kw):
    return TrialSpec("random", 1, 7, 7, {"epochs": 5, "learning_rate": 0.1}, 123, "rep1", **kw)


def test_table_columns_follow_the_result_fields_with_params_expanded():
    assert table_columns(["epochs", "learning_rate"]) == [
        "strategy", "repetition", "trial", "config", "seed", "epochs", "learning_rate", "train_rmse",
        "val_rmse", "parent", "start_epoch", "epochs_trained", "status", "message", "seconds", "virtual_start", "virtual_end", "started_at",
        "finished_at"]
    assert set(TIMING_COLUMNS) <= set(table_columns([]))


def test_a_record_round_trips_through_the_store_with_nan_as_null(tmp_path):
    from hpsearch.execution.store import TrialStore

    result = TrialResult.from_spec(spec(start_epoch=2), val_loss=0.4, val_curve=[0.5, 0.4], seconds=1.5)
    TrialStore(tmp_path).append(result.to_record())
    assert "NaN" not in (tmp_path / "trials.jsonl").read_text()  # JSON, which has no NaN
    [record] = TrialStore(tmp_path).read()
    assert record["train_loss"] is None  # NaN stored as null
    back = TrialResult.from_record(record)
    assert math.isnan(back.train_loss) and back.val_loss == 0.4 and back.start_epoch == 2
    assert back.row(["epochs"])["epochs"] == 5 and "val_curve" not in back.row(["epochs"])


def test_old_records_without_late_fields_are_read():
    old = {"strategy": "random", "repetition": 0, "trial": 4, "seed": 1, "params": {}, "val_rmse": 0.3,
           "status": "ok"}
    result = TrialResult.from_record(old)
    assert result.config == 4 and result.finished_at is None and result.start_epoch == 0


def test_value_is_none_unless_ok_and_finite():
    assert TrialResult.from_spec(spec(), val_loss=0.2).value == 0.2
    assert TrialResult.from_spec(spec(), val_loss=0.2, status="diverged").value is None
    assert TrialResult.from_spec(spec()).value is None  # never scored: NaN


def test_spec_key_and_identity_copied_to_the_result():
    s = spec()
    result = TrialResult.from_spec(s)
    assert s.key == ("random", 1, 7)
    assert (result.strategy, result.repetition, result.trial, result.config, result.seed) == ("random", 1, 7, 7, 123)
    result.params["epochs"] = 3
    assert s.params["epochs"] == 5  # the result owns a copy


def test_records_of_the_earlier_version_name_the_loss_after_rmse():
    old = {"strategy": "random", "repetition": 0, "trial": 1, "seed": 1, "params": {}, "train_rmse": 0.5,
           "val_rmse": 0.4, "test_rmse": None, "status": "ok"}
    result = TrialResult.from_record(old)
    assert (result.train_loss, result.val_loss) == (0.5, 0.4) and math.isnan(result.test_loss)


def test_classification_rows_name_the_log_loss_and_carry_the_scores():
    from hpsearch.data.metrics import CLASSIFICATION

    result = TrialResult.from_spec(spec(), val_loss=0.3, scores={"val_accuracy": 0.9, "val_roc_auc": 0.95})
    row = result.row(["epochs"], CLASSIFICATION)
    assert row["val_log_loss"] == 0.3 and row["val_accuracy"] == 0.9 and row["val_roc_auc"] == 0.95
    assert list(row) == table_columns(["epochs"], CLASSIFICATION) and "val_rmse" not in row
