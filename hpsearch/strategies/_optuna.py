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

import optuna

from hpsearch.strategies._base import Strategy

optuna.logging.set_verbosity(optuna.logging.WARNING)
OWN_OPTIONS = ("batch_size",)


def sampler_class(name: str) -> type[optuna.samplers.BaseSampler]:
    """``tpe`` -> TPESampler; ``optuna:QMCSampler`` -> optuna.samplers.QMCSampler."""
    if name == "tpe":
        return optuna.samplers.TPESampler
    cls_name = name.split(":", 1)[1]
    cls = getattr(optuna.samplers, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)):
        known = sorted(n for n in dir(optuna.samplers) if n.endswith("Sampler") and n != "BaseSampler")
        raise ValueError(f"unknown Optuna sampler '{cls_name}'; known: {', '.join(known)}")
    return cls


class OptunaStrategy(Strategy):
    replay_by_ask = False  # asking again would draw new points: resume tells the old ones

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size = int(self.options.get("batch_size", max(self.n_jobs, 1)))
        self.distributions = {dim.name: dim.to_optuna() for dim in self.space}
        self.sampler = make_sampler(self.name, self.options, int(self.seed.generate_state(1)[0]))
        self.study = optuna.create_study(direction="minimize", sampler=self.sampler)
        self._running: dict[int, optuna.trial.Trial] = {}

    def ask(self, trial: int) -> dict:
        optuna_trial = self.study.ask(self.distributions)
        self._running[trial] = optuna_trial
        return dict(optuna_trial.params)

    def tell(self, trial: int, params: dict, value: float | None, status: str,
             config: int | None = None) -> None:
        running = self._running.pop(trial, None)
        state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
        if running is not None:
            self.study.tell(running, value if value is not None else None, state=state)
        else:  # a trial finished in an earlier run (resume): add it as it was
            self.study.add_trial(optuna.trial.create_trial(
                params=params, distributions=self.distributions, value=value, state=state))

    @classmethod
    def check_options(cls, name: str, options: dict) -> str | None:
        batch = options.get("batch_size", 1)
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            return f"batch_size: expected an integer >= 1, got {batch!r}"
        try:
            make_sampler(name, options, seed=0)
        except (TypeError, ValueError, ImportError) as exc:
            return f"cannot create the sampler for '{name}': {exc}"
        return None


def make_sampler(name: str, options: dict, seed: int) -> optuna.samplers.BaseSampler:
    cls = sampler_class(name)
    kwargs = {k: v for k, v in options.items() if k not in OWN_OPTIONS}
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"{cls.__name__} has no option '{unknown[0]}'; it takes "
                        f"{', '.join(p for p in accepted if p != 'self')}")
    if "seed" in accepted:
        kwargs.setdefault("seed", seed)
    if cls is optuna.samplers.TPESampler:
        kwargs.setdefault("constant_liar", True)
    with _quiet_experimental():
        return cls(**kwargs)


class _quiet_experimental:
    """Optuna marks some samplers and options experimental; that is not the user's problem."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)
