"""``[model]``: what is trained, declared (:class:`ModelSection`), and the rules that tie it to the
rest of the config once its class is known (the task, the fixed parameters, the iteration bound).

The section is open: besides its own keys (``estimator``, ``packages``, ``path``, ``threads``,
``objective``, ``fidelity``) it holds the estimator's fixed parameters, which the estimator's
class checks (:func:`check_fixed`).
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from hpsearch.models import estimators
from hpsearch.models.estimators import NETWORK, NETWORK_CLASSIFIER
from hpsearch.sections import Invalid, OpenSection, invalid, show

#: the most threads per pool a worker may be given
MAX_THREADS = 256
#: the most iterations (epochs, max_iter, n_estimators) one trial may train, searched or fixed
MAX_FIDELITY = 100_000
#: the network's fixed parameters when the config has no [model]
DEFAULT_MODEL = {"batch_size": 256}
OWN_KEYS = ("estimator", "packages", "path", "threads", "objective", "fidelity")


class ModelSection(OpenSection):
    """``[model]`` as written in the file; other keys are the estimator's fixed parameters."""

    estimator: str = Field(NETWORK, description="a dotted path to an estimator class (default: the NumPy network)")
    packages: list[str] = Field([], description="packages an estimator or objective may be imported from")
    path: str | None = Field(None, description="the folder of the config's own code, relative to the config")
    threads: int = Field(1, ge=1, le=MAX_THREADS, description="threads per pool (BLAS, OpenMP) per worker")
    objective: str | None = Field(None, description="your own training function, package.module:function")
    fidelity: str = Field("epochs", description="the objective's iteration parameter")

    @field_validator("estimator", mode="before")
    @classmethod
    def _dotted(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid("", f"expected a dotted path to an estimator class, got {show(value)}")
        return value

    @field_validator("packages", mode="before")
    @classmethod
    def _package_names(cls, value: Any) -> Any:
        problem = estimators.check_package_names(value)
        if problem:
            raise invalid("", problem)
        return list(value)

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_THREADS:
            raise invalid("", f"at most {MAX_THREADS} threads per pool, got {value:,}")
        return value

    @field_validator("path", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value or "\0" in value or len(value) > 4096:
            raise invalid("", f"expected the folder of your code, relative to the config, such as \".\", "
                          f"got {show(value)}")
        return value

    @field_validator("fidelity", mode="before")
    @classmethod
    def _parameter_name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.isidentifier():
            raise invalid("", f"expected a parameter name such as \"epochs\", got {show(value)}")
        return value

    @model_validator(mode="after")
    def _one_thing_to_train(self) -> "ModelSection":
        if self.objective is not None and "estimator" in self.model_fields_set:
            raise invalid("objective", "give either an estimator or an objective, not both")
        return self

    @property
    def fixed(self) -> dict:
        """The estimator's fixed parameters (the keys that are not the section's own)."""
        return dict(self.model_extra or {})

    def code_folder(self, folder: Path, must_exist: bool) -> str | None:
        """``path`` resolved from the config's ``folder``; None when not given."""
        if self.path is None:
            return None
        resolved = (folder / self.path).resolve()
        if must_exist and not resolved.is_dir():
            raise Invalid("model.path", f"'{self.path}' is not a folder (looked for {resolved})")
        return str(resolved)


def check_fixed(cls: type | None, fixed: dict, searched: set[str]) -> dict:
    """The fixed parameters, checked against the estimator's class (None: a run folder's config,
    read as text) and against what is searched."""
    if cls is not None:
        allowed = list(OWN_KEYS) + estimators.param_names(cls)
        for key in fixed:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                raise Invalid(f"model.{key}", f"unknown key; {hint}")
    for key in fixed:
        if key in searched:
            raise Invalid(f"model.{key}", "is also searched in [space]; fix it in one place only")
    problem = estimators.check_values(cls, fixed) if cls is not None else None
    if problem:
        key = next((k for k in fixed if k in problem), problem.split()[0])
        raise Invalid(f"model.{key}", problem)
    return fixed


def match_task(data, cls: type, estimator: str, classification_sets: tuple[str, ...]):
    """The data config with its task: from the data, or else from the estimator; the two must agree."""
    kind = estimators.task_of(cls)
    if data.task == "auto" and data.dataset in classification_sets:
        data = replace(data, task="classification", task_from=f"the data set {data.dataset}")
    if estimator == NETWORK:  # the network follows the data: regressor or classifier
        return data
    if estimator == NETWORK_CLASSIFIER:
        if data.task == "regression":
            raise Invalid("model.estimator", "NumpyMLPClassifier on a regression problem; use the default network")
        return replace(data, task="classification", task_from="the estimator, a classifier")
    if data.task == "auto":
        return replace(data, task=kind,
                       task_from=f"the estimator, a {'regressor' if kind == 'regression' else 'classifier'}")
    if data.task != kind:
        raise Invalid("model.estimator", f"{cls.__name__} is a {kind} estimator and the problem is {data.task} "
                      f"(data.task); choose a {'classifier' if data.task == 'classification' else 'regressor'}")
    return data


def check_fidelity_bound(cls: type, space, model: dict) -> None:
    """No trial may train more than :data:`MAX_FIDELITY` iterations, searched or fixed."""
    fidelity = estimators.fidelity(cls) or next((n for n in ("max_iter", "n_estimators")
                                                 if n in estimators.param_names(cls)), None)
    if fidelity is None:
        return
    dim = next((d for d in space if d.name == fidelity), None)
    values = list(dim.choices if dim.kind == "categorical" else (dim.high,)) if dim else []
    where = f"space.{fidelity}" if dim else f"model.{fidelity}"
    if fidelity in model:
        values.append(model[fidelity])
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > MAX_FIDELITY:
            raise Invalid(where, f"at most {MAX_FIDELITY:,} iterations per trial, got {value:,}")
