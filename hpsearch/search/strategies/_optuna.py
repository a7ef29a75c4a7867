"""Optuna samplers through ask/tell: ``tpe`` and any ``optuna:<SamplerName>``.

Parallel workers and reproducibility: the engine asks ``batch_size`` trials
(default: the number of workers), runs them, tells all results, then asks the
next batch. Trials asked but not yet told are RUNNING in the study; TPE is
created with ``constant_liar=True`` so it treats them as bad results and spreads
a batch out instead of proposing the same point several times. Because batches
are formed and told in a fixed order, a run is reproducible for a given seed and
batch size: the same ``batch_size`` gives the same trials whatever ``n_jobs``
is, and the default (``batch_size = n_jobs``) makes a run reproducible for a
given ``n_jobs``. Timing-dependent asynchrony is never used.
"""

from __future__ import annotations

import inspect
import warnings

import optuna
from pydantic import Field

from hpsearch.search.space import fidelity_range
from hpsearch.search.strategies._base import Asynchrony, Proposal, Strategy, Workers
from hpsearch.search.strategies._hyperband import AtLeastOne, MultiFidelityOptions
from hpsearch.search.trial import CONTINUE, STOP, Decision, TrialResult
from hpsearch.sections import OPEN, OpenSection

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sampler_class(name: str) -> type[optuna.samplers.BaseSampler]:
    """``tpe`` -> TPESampler; ``optuna:QMCSampler`` -> optuna.samplers.QMCSampler."""
    if name in ("tpe", "tpe-hyperband"):
        return optuna.samplers.TPESampler
    cls_name = name.split(":", 1)[1]
    cls = getattr(optuna.samplers, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)):
        known = sorted(n for n in dir(optuna.samplers) if n.endswith("Sampler") and n != "BaseSampler")
        raise ValueError(f"unknown Optuna sampler '{cls_name}'; known: {', '.join(known)}")
    return cls


class OptunaOptions(OpenSection):
    """``[strategy.tpe]`` and ``[strategy."optuna:<Sampler>"]``: trials asked at once (``batch_size``,
    default ``workers``, the config file's n_jobs); every other key is a keyword argument of the
    Optuna sampler, which checks it."""

    batch_size: AtLeastOne | None = Field(None, description="trials asked at once (default: workers)")
    workers: Workers | None = Field(None, description="the config file's n_jobs by default")


class OptunaPrunedOptions(OptunaOptions, MultiFidelityOptions, Asynchrony):
    """``[strategy.tpe-hyperband]``: TPE's options and the ``HyperbandPruner``'s rungs."""

    model_config = OPEN


class OptunaStrategy(Strategy):
    # a resume asks every stored trial again, in order and in the same batches, and tells its stored
    # result: the sampler's random state and the study are then what they were (a study told the old
    # trials without asking would draw the first points again)
    replay_by_ask = True
    #: options that are ours; every other key of [strategy.<name>] goes to the sampler
    own_options: tuple[str, ...] = ("batch_size", "workers")
    Options = OptunaOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size = int(self.options.get("batch_size") or self.options.get("workers") or max(self.n_jobs, 1))
        self.distributions = {dim.name: dim.to_optuna() for dim in self.space}
        self.sampler = make_sampler(self.name, self.options, int(self.seed.generate_state(1)[0]),
                                    self.own_options)
        self.study = optuna.create_study(direction="minimize", sampler=self.sampler, study_name=self.study_name)
        self._running: dict[int, optuna.trial.Trial] = {}

    @property
    def study_name(self) -> str:
        """From the strategy's seed, not Optuna's random default: the HyperbandPruner assigns a
        trial's bracket from a hash of the study's name, so a random name makes runs differ."""
        return f"hpsearch-{self.name}-{self.seed.entropy}-{'-'.join(map(str, self.seed.spawn_key))}"

    def ask(self, trial: int) -> dict:
        optuna_trial = self.study.ask(self.distributions)
        self._running[trial] = optuna_trial
        return dict(optuna_trial.params)

    def tell(self, result: TrialResult) -> None:
        running = self._running.pop(result.trial, None)
        value = result.value
        state = _state(result)
        curve = {i + 1: v for i, v in enumerate(result.val_curve or []) if v is not None}
        if running is not None:
            if state == optuna.trial.TrialState.PRUNED:  # Optuna ranks pruned trials by their last values
                for step, v in curve.items():
                    running.report(v, step)
            self.study.tell(running, value, state=state)
        else:  # a trial finished in an earlier run (resume): add it as it was
            self.study.add_trial(optuna.trial.create_trial(
                params=self._searched(result.params), distributions=self.distributions, value=value,
                state=state, intermediate_values=curve if state == optuna.trial.TrialState.PRUNED else None))

    def _searched(self, params: dict) -> dict:
        return {k: v for k, v in params.items() if k in self.distributions}

    @classmethod
    def check_options(cls, name: str, options: dict) -> str | None:
        problem = super().check_options(name, options)
        if problem:
            return problem
        try:
            sampler = make_sampler(name, options, 0, cls.own_options)
        except ImportError as exc:
            return f"'{name}' needs the package '{exc.name or exc}': pip install {exc.name or '...'}"
        except Exception as exc:  # a sampler's constructor may raise anything on bad options
            return f"cannot create the sampler for '{name}': {type(exc).__name__}: {exc}"
        return try_sampler(name, sampler)


def _state(result: TrialResult):
    """The Optuna state of a trial: stopped trials are PRUNED, as Optuna's pruners leave them."""
    if result.value is not None:
        return optuna.trial.TrialState.COMPLETE
    return optuna.trial.TrialState.PRUNED if result.status == "stopped" else optuna.trial.TrialState.FAIL


def try_sampler(name: str, sampler: optuna.samplers.BaseSampler) -> str | None:
    """Ask and tell a few trials of a small space: options of the wrong kind, and the
    packages a sampler imports only when it samples, show here, before any run."""
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0),
             "n": optuna.distributions.IntDistribution(1, 8, log=True)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(sampler=sampler)
            # past the start-up trials (TPE's n_startup_trials), where a model option is first used
            startup = getattr(sampler, "_n_startup_trials", 1)
            for _ in range(min(int(startup) if isinstance(startup, int) else 1, 30) + 3):
                trial = study.ask(space)
                study.tell(trial, float(trial.params["x"]))
    except ImportError as exc:
        return f"'{name}' needs the package '{exc.name or exc}': pip install {exc.name or '...'}"
    except Exception as exc:
        return f"the sampler of '{name}' fails with these options: {type(exc).__name__}: {exc}"
    return None


def make_sampler(name: str, options: dict, seed: int,
                 own: tuple[str, ...] = ("batch_size",)) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` with the options that are not hpsearch's ``own``."""
    cls = sampler_class(name)
    kwargs = {k: v for k, v in options.items() if k not in own}
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"{cls.__name__} has no option '{unknown[0]}'; it takes "
                        f"{', '.join(p for p in accepted if p != 'self')}")
    if "seed" in accepted:
        kwargs.setdefault("seed", seed)
    if cls is optuna.samplers.TPESampler:
        kwargs.setdefault("constant_liar", True)
    with warnings.catch_warnings():  # some samplers are "experimental": not the user's problem
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(**kwargs)


class OptunaPrunedStrategy(OptunaStrategy):
    """``tpe-hyperband``: Optuna's own multi-fidelity peer of Hyperband and ASHA.

    TPE proposes every dimension but epochs; each trial is set to train
    ``max_epochs`` and reports its validation RMSE after every epoch
    (``on_epoch``, fed by the workers through the backend's epoch channel) to
    its Optuna trial, whose study's ``HyperbandPruner`` (``min_epochs``,
    ``max_epochs``, reduction factor ``eta``) stops it when it falls behind. The
    study lives in this process, in memory; a resume tells it the stored trials
    with their epoch curves. A pruned trial is recorded with ``status = "stopped"``,
    its proposed epochs, the epochs it trained and its validation curve. What the pruner decides
    depends on which trials reported first: like Optuna's own parallel
    optimisation, runs are not reproducible with several workers.
    """

    own_options = ("batch_size", "min_epochs", "max_epochs", "eta", "workers", "clock")
    Options = OptunaPrunedOptions
    schedules_fidelity = True
    needs_epoch_reports = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_epochs, self.max_epochs = fidelity_range(self.space, self.fidelity, self.options)
        self.distributions = {n: d for n, d in self.distributions.items() if n != self.fidelity}
        self.study = optuna.create_study(direction="minimize", sampler=self.sampler, study_name=self.study_name,
                                         pruner=optuna.pruners.HyperbandPruner(
                                             min_resource=self.min_epochs, max_resource=self.max_epochs,
                                             reduction_factor=int(self.options.get("eta", 3))))
        self._reported: set[int] = set()  # trials whose epochs were reported while they trained

    def ask(self, trial: int) -> Proposal:
        optuna_trial = self.study.ask(self.distributions)
        self._running[trial] = optuna_trial
        return Proposal({**optuna_trial.params, self.fidelity: self.max_epochs}, report_epochs=True)

    def on_epoch(self, trial: int, epoch: int, value: float) -> Decision:
        running = self._running.get(trial)
        if running is None:
            return CONTINUE
        running.report(value, epoch)
        self._reported.add(trial)
        return STOP if running.should_prune() else CONTINUE

    def tell(self, result: TrialResult) -> None:
        running = self._running.pop(result.trial, None)
        value = result.value
        pruned = result.status == "stopped"
        state = _state(result)
        if running is None:  # finished in an earlier run (resume): add it with its curve
            curve = {i + 1: v for i, v in enumerate(result.val_curve or []) if v is not None}
            self.study.add_trial(optuna.trial.create_trial(
                params=self._searched(result.params), distributions=self.distributions,
                value=None if pruned else value, state=state, intermediate_values=curve))
        else:
            if result.trial not in self._reported:  # a resume replays it: each epoch as it was reported,
                for step, v in enumerate(result.val_curve or [], start=1):  # and asked about (the pruner
                    if v is not None:                                     # records the rungs it passed)
                        running.report(v, step)
                        running.should_prune()
            self._reported.discard(result.trial)
            if pruned or value is None:
                self.study.tell(running, state=state)
            else:
                self.study.tell(running, value)
