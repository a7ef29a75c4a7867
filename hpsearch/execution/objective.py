"""The objectives: ``objective(spec, dataset) -> TrialResult``.

An objective fits, scores and returns; it never writes results (the worker
runtime, :mod:`hpsearch.execution.worker`, times it and turns its exceptions
into failed trials). It is a module-level callable, so that any worker process
can import it. :data:`train_and_score` is the NumPy network's objective,
:func:`fit_and_score` that of any scikit-learn estimator, :data:`evaluate` (the
default) picks one. An objective that can train several trials as one
computation declares it by implementing :class:`TrainsTogether`, as the
network's does; :func:`populations` groups only such an objective's trials.
"""

from __future__ import annotations

import os
import signal
import warnings
from typing import Protocol, runtime_checkable

import numpy as np

from hpsearch.data.dataset import Dataset
from hpsearch.data.metrics import classification_scores, rmse
from hpsearch.execution.worker import Objective, Together, limit_threads, report_epoch
from hpsearch.models import estimators
from hpsearch.models.calibration import population_max_batch
from hpsearch.models.checkpoints import load_state, save_state
from hpsearch.models.network import NetworkClassifier, NetworkRegressor, check_params
from hpsearch.models.population import SHARED, padded_width, train_population
from hpsearch.search.trial import TrialResult, TrialSpec


def _train_alone(spec: TrialSpec, dataset: Dataset) -> TrialResult:
    """Train the NumPy network (``spec.estimator``: the regressor or the classifier)
    with ``spec.model`` and ``spec.params`` on the training split; score it.

    Continues from ``spec.load_state`` when given (a promotion in multi-fidelity
    search: bit-identical to training straight through, so only the new epochs
    are paid for) and saves the final state to ``spec.save_state``. A trial the
    strategy stops after epoch k counts as a trial of k epochs
    (``params["epochs"]`` becomes k).
    """
    return fit_network(spec, dataset, lambda net: report_epoch)[1]


def fit_network(spec: TrialSpec, dataset: Dataset, watch) -> tuple:
    """(the trained network, its scored result): what :func:`_train_alone` does, with
    ``watch(net)`` giving the ``on_epoch(epoch, validation value) -> stop?`` called after
    every epoch (the network is None when it was refused as too big for this machine)."""
    refused = _too_big(spec, dataset)
    if refused is not None:
        return None, refused
    net = _network(spec)
    on_epoch = watch(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.load_state is not None:
            net.set_state(load_state(spec.load_state))
            before = net.n_iter_
            net.continue_fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val,
                             epochs=net.epochs, on_epoch=on_epoch)
        else:
            before = 0
            net.fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, on_epoch=on_epoch)
    return net, _network_result(net, spec, dataset, before)


def _train_together(specs: list[TrialSpec], dataset: Dataset) -> list[TrialResult]:
    """Network trials of one population (see :func:`populations`) trained as one
    vectorised computation (:mod:`hpsearch.models.population`); each result is that of
    :func:`train_and_score` for its spec (to rounding: the tests check 1e-9). As
    the objective of a worker call (:func:`run_trials`) it takes the whole list."""
    results: dict[int, TrialResult] = {}
    nets, befores, members = [], [], []
    for i, spec in enumerate(specs):
        if population_key(spec) is None:
            raise ValueError(f"trial {spec.key} cannot be trained in a population")
        refused = _too_big(spec, dataset)
        if refused is not None:
            results[i] = refused
            continue
        net = _network(spec)
        if spec.load_state is not None:
            net.set_state(load_state(spec.load_state))
            data = net.resume_training(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, net.epochs)
        else:
            data = net.start_training(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
        nets.append(net)
        befores.append(net.n_iter_)
        members.append(i)
    if nets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_population(nets, *data)
    for i, net, before in zip(members, nets, befores):
        results[i] = _network_result(net, specs[i], dataset, before)
    return [results[i] for i in range(len(specs))]


def population_key(spec: TrialSpec) -> tuple | None:
    """What trials must share to be trained together, or None for a trial trained
    alone: not the network, epoch reports (a pruner), a time limit, a full batch
    (one step per epoch: nothing to share), or parameters the network refuses."""
    if not estimators.is_network(spec.estimator) or spec.report_epochs or spec.time_limit is not None:
        return None
    net = _network(spec)
    try:
        check_params(net)
    except ValueError:
        return None
    if net.batch_size in (None, "full"):
        return None
    return (spec.data, spec.task, padded_width(net.hidden_width, net.batch_size),
            *(getattr(net, name) for name in SHARED))


MAX_POPULATION = 32


def population_pays(spec: TrialSpec) -> bool:
    """Whether the default population applies to ``spec``: its batch size is at most the
    crossover measured on this machine (:func:`hpsearch.models.calibration.population_max_batch`);
    above it a step's elementwise work outweighs its call overhead and stacking does not pay.
    ``population = N`` in a config asks for populations at any batch size."""
    batch = {**spec.model, **spec.params}.get("batch_size", 256)
    return isinstance(batch, int) and batch <= population_max_batch()


def populations(objective: Objective, specs: list[TrialSpec], cap: int | None = None,
                workers: int = 1) -> list[tuple[Objective | Together, list[TrialSpec]]]:
    """The specs in worker calls, each with what runs it: trials that ``objective``
    can train together (it implements :class:`TrainsTogether` and gives them one
    key) go as ``Together(objective)`` in populations of
    at most ``cap`` (default: as many as keep every worker busy, at most
    :data:`MAX_POPULATION`), even when a population holds one trial, so that a
    trial's numbers never depend on its company; the others (and every trial with
    ``cap = 1``) go alone to ``objective``. The biggest work first.

    Grouping never changes a result (see :func:`hpsearch.models.population.padded_width`).
    """
    trains_together = isinstance(objective, TrainsTogether)
    together: dict[tuple, list[TrialSpec]] = {}
    tasks = []
    for spec in specs:
        key = objective.population_key(spec) if trains_together and cap != 1 else None
        if key is not None and cap is None and not population_pays(spec):
            key = None  # by default only where a population is measured to be faster
        if key is None:
            tasks.append((objective, [spec]))
        else:
            together.setdefault(key, []).append(spec)
    for members in together.values():
        size = cap or min(MAX_POPULATION, max(1, -(-len(members) // workers)))
        count = -(-len(members) // size)
        if cap is None:  # a multiple of the workers, so that none waits for the last group
            count = min(len(members), count + (-count % workers))
        tasks += [(Together(objective), members[k::count]) for k in range(count)]  # work spread evenly
    return sorted(tasks, key=lambda task: -sum(work(spec) for spec in task[1]))


def work(spec: TrialSpec) -> float:
    """A network trial's work, in epochs x hidden units (to charge a population's time)."""
    params = {**spec.model, **spec.params}
    return (float(params.get("epochs", 1)) - spec.start_epoch) * float(params.get("hidden_width", 1))


def _network(spec: TrialSpec):
    network = NetworkClassifier if spec.task == "classification" else NetworkRegressor
    return network(**{**spec.model, **spec.params}, random_state=spec.seed)


def _too_big(spec: TrialSpec, dataset: Dataset) -> TrialResult | None:
    """A failed result when the network would need too much of this machine's memory."""
    try:
        needed, memory = _memory_needed(spec, dataset), _machine_memory()
    except (TypeError, ValueError):  # parameters the network refuses: it says which
        return None
    if needed <= MEMORY_SHARE * memory:
        return None
    return TrialResult.from_spec(spec, status="failed", message=(
        f"the network needs about {needed / 2**30:.1f} GiB, more than {MEMORY_SHARE:.0%} of this "
        f"machine's {memory / 2**30:.1f} GiB; not trained"))


def _network_result(net, spec: TrialSpec, dataset: Dataset, before: int) -> TrialResult:
    """The trial's result from its trained network (its state saved when asked)."""
    result = TrialResult.from_spec(spec)
    if net.status_ == "stopped" and net.n_iter_ < net.epochs:  # keeps its proposed epochs; trained fewer
        result.status = "stopped"
        result.message = f"stopped after epoch {net.n_iter_} of {net.epochs} (the strategy stopped it)"
    if spec.save_state is not None:
        save_state(net.get_state(), spec.save_state)
    result.epochs_trained = net.n_iter_ - before
    result.val_curve = [float(v) for v in net.validation_curve_]
    if net.status_ == "diverged":
        result.status = "diverged"
        result.message = f"non-finite loss in epoch {net.n_iter_ + 1}"
        return result
    return score(net, spec, dataset, result)


MEMORY_SHARE = 0.5  # a trial may use at most this share of the machine's memory


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40


def _memory_needed(spec: TrialSpec, dataset: Dataset) -> float:
    """Bytes a network trial allocates, estimated before allocating: weights (with
    their gradients and the copy kept against divergence) and the activations of a
    batch and of the validation split."""
    params = {"hidden_width": 32, "n_hidden_layers": 1, "batch_size": None, **spec.model, **spec.params}
    width, layers = float(params["hidden_width"]), float(params["n_hidden_layers"])
    features, rows = float(dataset.X_train.shape[1]), float(dataset.X_train.shape[0])
    batch = rows if params["batch_size"] in (None, "full") else min(float(params["batch_size"]), rows)
    weights = features * width + (layers - 1) * width * width + width * 10
    activations = (batch * 3 + max(rows, float(dataset.X_val.shape[0]))) * width * layers
    return 8.0 * (4 * weights + activations)


def fit_and_score(spec: TrialSpec, dataset: Dataset) -> TrialResult:
    """Fit any scikit-learn regressor or classifier ``spec.estimator`` with
    ``spec.model`` and ``spec.params`` on the training split; score it.

    With a fidelity (``max_iter`` or ``n_estimators``, see
    :mod:`hpsearch.models.estimators`) the estimator is fitted with ``warm_start`` and
    can continue from ``spec.load_state`` up to the new count: a warm start.
    """
    result = TrialResult.from_spec(spec)
    cls = estimators.imported(spec.estimator)  # the driver checked the path
    limit_threads()  # a pool its import created (OpenMP), where the environment did not reach (Dask)
    fidelity = estimators.fidelity(cls)
    params = {**spec.model, **spec.params}
    if fidelity is not None:
        params["warm_start"] = True  # the same as a cold fit for a fresh estimator
        params.setdefault(fidelity, estimators.default_of(cls, fidelity))  # neither fixed nor searched
    if spec.load_state is not None:
        model = estimators.load_estimator(spec.load_state, f"{cls.__module__}.{cls.__qualname__}")
        model.set_params(**params)
        if estimators.counts_per_fit(cls, fidelity):  # max_iter counts one call to fit: the rest
            model.set_params(**{fidelity: params[fidelity] - spec.start_epoch})
    else:
        model = estimators.make(spec.estimator, params, spec.seed)
    if spec.time_limit is not None:  # a fit cannot stop between epochs: it runs against the clock
        model = fit_before(model, dataset, spec.time_limit)
        if model is None:
            result.status = "stopped"
            result.message = f"stopped by the seconds budget: the fit ran past {spec.time_limit:.3g} s and was ended"
            return result
    else:
        _fit(model, dataset)
    if spec.load_state is not None and fidelity is not None:
        model.set_params(**{fidelity: params[fidelity]})
    if spec.save_state is not None:
        estimators.save_estimator(model, spec.save_state)
    result.epochs_trained = (params[fidelity] - spec.start_epoch) if fidelity is not None else 0
    return score(model, spec, dataset, result)


def _fit(model, dataset: Dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(dataset.X_train, dataset.y_train)
    return model


def fit_before(model, dataset: Dataset, seconds: float):
    """``model`` fitted in a forked child process that is ended after ``seconds``: the fitted model,
    or None when time ran out. (An estimator's ``fit`` has no point to stop at; a seconds budget
    must still hold.) Where fork is not available the fit runs to its end."""
    import multiprocessing
    import pickle

    if "fork" not in multiprocessing.get_all_start_methods():
        return _fit(model, dataset)
    reader, writer = multiprocessing.get_context("fork").Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # the child: fit, send the model or the error, leave at once (no clean-up of the parent's)
        try:
            reader.close()
            try:
                payload = ("ok", _fit(model, dataset))
            except Exception as exc:
                payload = ("error", f"{type(exc).__name__}: {exc}")
            writer.send_bytes(pickle.dumps(payload))
        finally:
            os._exit(0)
    writer.close()
    try:
        message = reader.recv_bytes() if reader.poll(max(seconds, 0.0)) else None
    except EOFError:  # the child died without a word (killed, out of memory)
        message = pickle.dumps(("error", "the process fitting the estimator died"))
    finally:
        reader.close()
    if message is None:  # out of time
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if message is None:
        return None
    kind, value = pickle.loads(message)  # our own child's bytes, not a file's
    if kind == "error":
        raise RuntimeError(value)
    return value


def score(model, spec: TrialSpec, dataset: Dataset, result: TrialResult) -> TrialResult:
    """The fitted ``model``'s losses on train and validation (and test when asked),
    named by the problem's metric; non-finite predictions make the trial diverged."""
    splits = ["train", "val"] + (["test"] if spec.with_test else [])
    for split in splits:
        X, y = getattr(dataset, f"X_{split}"), np.asarray(getattr(dataset, f"y_{split}"))
        if spec.task == "classification":
            proba = model.predict_proba(X)
            if not np.all(np.isfinite(proba)):
                result.status, result.message = "diverged", f"non-finite probabilities on {split}"
                return result
            scores = classification_scores(proba, y, np.asarray(model.classes_))
            loss = scores.pop("log_loss")
            if split != "train":
                result.scores.update({f"{split}_{k}": v for k, v in scores.items()})
        elif split == "val" and result.val_curve:  # the network's own last epoch: no second pass
            loss = result.val_curve[-1]
        else:
            prediction = model.predict(X)
            if not np.all(np.isfinite(prediction)):
                result.status, result.message = "diverged", f"non-finite predictions on {split}"
                return result
            loss = rmse(prediction, y)
        setattr(result, f"{split}_loss", loss)
    if result.val_curve:  # the classifier's curve is the log loss too: kept exactly as trained
        result.val_loss = result.val_curve[-1]
    return result


@runtime_checkable
class TrainsTogether(Protocol):
    """What an objective implements to train trials in populations: a key that
    trials must share to train together (None: alone), the population's training
    (each result that of training alone, to rounding), and a trial's work (to
    charge the population's seconds in proportion)."""

    def population_key(self, spec: TrialSpec) -> tuple | None: ...

    def train_together(self, specs: list[TrialSpec], dataset: Dataset) -> list[TrialResult]: ...

    def work(self, spec: TrialSpec) -> float: ...


class NetworkObjective:
    """The NumPy network's objective (see :func:`_train_alone`); it trains together
    (see :func:`_train_together`) the trials that share a :func:`population_key`."""

    def __call__(self, spec: TrialSpec, dataset: Dataset) -> TrialResult:
        return _train_alone(spec, dataset)

    def population_key(self, spec: TrialSpec) -> tuple | None:
        return population_key(spec)

    def train_together(self, specs: list[TrialSpec], dataset: Dataset) -> list[TrialResult]:
        return _train_together(specs, dataset)

    def work(self, spec: TrialSpec) -> float:
        return work(spec)

    def __repr__(self) -> str:
        return f"hpsearch.execution.objective.{type(self).__name__}()"


class DefaultObjective(NetworkObjective):
    """The default objective: the network's own, or any scikit-learn estimator's
    (:func:`fit_and_score`; such trials have no population key)."""

    def __call__(self, spec: TrialSpec, dataset: Dataset) -> TrialResult:
        if estimators.is_network(spec.estimator):
            return _train_alone(spec, dataset)
        return fit_and_score(spec, dataset)


train_and_score = NetworkObjective()
evaluate = DefaultObjective()
