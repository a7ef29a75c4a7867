"""A trial as data: what a worker needs (:class:`TrialSpec`) and what comes back
(:class:`TrialResult`).

The fields of :class:`TrialResult` are the one list of a trial's fields: the
store writes them (one JSON line per trial), ``trials.csv`` shows them in this
order (``params`` expanded to one column per hyperparameter; fields marked
``table=False`` stay in the store only), ``hpsearch show`` counts them and the
Optuna export reads them. Nothing else lists them.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone

from hpsearch.data.metrics import REGRESSION, Metric


class Decision(enum.Enum):
    """What a strategy answers to an epoch report (``Strategy.on_epoch``)."""

    CONTINUE = "continue"
    STOP = "stop"


CONTINUE, STOP = Decision.CONTINUE, Decision.STOP


@dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one trial (picklable, no open handles).

    Attributes
    ----------
    strategy, repetition, trial : str, int, int
        Which trial this is: trials are numbered 0, 1, ... per (strategy, repetition).
    config : int
        The configuration number; it picks the network seed (paired across
        strategies). The trial number unless a multi-fidelity strategy numbers
        configurations itself.
    params : dict
        The searched hyperparameters; ``epochs`` is the total to train to.
    seed : int
        Seeds the initial weights and the shuffling.
    data : str
        Which prepared data set (one per repetition); the backend resolves it.
    model : dict
        Fixed estimator parameters from the config.
    start_epoch : int
        Epochs already trained in ``load_state``: the trial trains the rest.
    load_state, save_state : str or None
        A saved network state to continue from; where to save the final state.
    report_epochs : bool
        Report the validation value of every epoch to the strategy (which may stop the trial).
    with_test : bool
        Also score the test split (once per search, for the configuration validation chose).
    estimator : str
        Dotted path of the estimator class (the NumPy network by default).
    task : str
        ``regression`` (scored by RMSE) or ``classification`` (log loss, accuracy, ROC AUC).
    time_limit : float or None
        Seconds of training after which the trial stops at the next epoch (what is
        left of a seconds budget).
    parent : int or None
        The trial whose saved state this one continues (a promotion, or population-based
        training's exploit), for the record.
    """

    strategy: str
    repetition: int
    trial: int
    config: int
    params: dict
    seed: int
    data: str
    model: dict = field(default_factory=dict)
    start_epoch: int = 0
    load_state: str | None = None
    save_state: str | None = None
    report_epochs: bool = False
    with_test: bool = False
    estimator: str = "hpsearch.NumpyMLPRegressor"
    task: str = "regression"
    time_limit: float | None = None
    parent: int | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.strategy, self.repetition, self.trial)


def _column(default=None, *, table: bool = True, factory=None, curve: bool = False):
    metadata = {"table": table, "curve": curve}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


NAN = float("nan")
#: statuses of trials that did not work (a stopped trial worked: it was stopped)
FAILED = ("failed", "diverged")


@dataclass
class TrialResult:
    """One finished trial: the record stored, and a row of ``trials.csv``."""

    strategy: str
    repetition: int
    trial: int
    config: int
    seed: int
    params: dict
    train_loss: float = _column(NAN)  # the problem's metric: RMSE, or log loss
    val_loss: float = _column(NAN)
    test_loss: float = _column(NAN, table=False)
    parent: int | None = _column(None)  # the trial whose network state this one continued
    start_epoch: int = _column(0)
    epochs_trained: int = _column(0)
    status: str = _column("ok")  # ok | stopped (by the strategy or the budget) | diverged | failed
    message: str = _column("")
    seconds: float = _column(0.0)
    virtual_start: float | None = _column(None)  # on a virtual clock (hpsearch.search.schedule): when it started,
    virtual_end: float | None = _column(None)  # and ended, in epochs of its search's virtual workers
    started_at: str | None = _column(None)  # ISO-8601 UTC, when the worker started the trial
    finished_at: str | None = _column(None)  # ISO-8601 UTC, when the result was stored
    val_curve: list = _column(table=False, factory=list, curve=True)
    scores: dict = _column(table=False, factory=dict)  # metrics beside the loss: val_accuracy, ...
    # per epoch, kept by a trial that records them (a tabular benchmark's recording): the test
    # loss, and the seconds each epoch took
    test_curve: list = _column(table=False, factory=list, curve=True)
    epoch_seconds: list = _column(table=False, factory=list, curve=True)

    @classmethod
    def from_spec(cls, spec: TrialSpec, **values) -> "TrialResult":
        """A result for ``spec`` (identity copied from it) with ``values`` set."""
        return cls(spec.strategy, spec.repetition, spec.trial, spec.config, spec.seed, dict(spec.params),
                   start_epoch=spec.start_epoch, parent=spec.parent if spec.load_state else None, **values)

    @classmethod
    def from_record(cls, record: dict) -> "TrialResult":
        """A stored record (JSON: NaN stored as null; old records may lack late fields,
        and name the loss after RMSE)."""
        record = {LEGACY.get(k, k): v for k, v in record.items()}
        values = {}
        for f in fields(cls):
            if f.name in record:
                value = record[f.name]
                values[f.name] = NAN if value is None and f.default is NAN else value
        values.setdefault("config", record["trial"])
        return cls(**values)

    def to_record(self) -> dict:
        """The fields as a dict (its containers copied one level deep: enough for JSON)."""
        return {f.name: (value.copy() if isinstance(value := getattr(self, f.name), (dict, list)) else value)
                for f in fields(self)}

    @property
    def value(self) -> float | None:
        """The objective the strategies minimise (the validation loss), or None when
        the trial failed or diverged."""
        if self.status != "ok" or self.val_loss is None or math.isnan(self.val_loss):
            return None
        return self.val_loss

    def row(self, param_names: list[str], metric: Metric = REGRESSION) -> dict:
        """The row of ``trials.csv``: losses named after the metric, its extras beside."""
        row = {}
        for f in fields(self):
            if f.name == "params":
                row.update({name: self.params.get(name) for name in param_names})
            elif f.name.endswith("_loss") and f.metadata.get("table", True):
                row[metric.loss(f.name.removesuffix("_loss"))] = getattr(self, f.name)
                if f.name == "val_loss":
                    row.update({f"val_{e}": self.scores.get(f"val_{e}", NAN) for e in metric.extras})
            elif f.metadata.get("table", True):
                row[f.name] = getattr(self, f.name)
        return row


#: the fields that hold one number per epoch
CURVES = tuple(f.name for f in fields(TrialResult) if f.metadata.get("curve"))


def table_columns(param_names: list[str], metric: Metric = REGRESSION) -> list[str]:
    """The columns of ``trials.csv``, in order."""
    return list(TrialResult("", 0, 0, 0, 0, {}).row(param_names, metric))


#: names an earlier version stored the losses under
LEGACY = {"train_rmse": "train_loss", "val_rmse": "val_loss", "test_rmse": "test_loss"}


#: columns of ``trials.csv`` that depend on timing (the rest is reproducible)
TIMING_COLUMNS = ("seconds", "started_at", "finished_at")


def now() -> str:
    """The current time, ISO-8601 UTC to the microsecond."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
