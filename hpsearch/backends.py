"""Where trials run: joblib's loky processes (default) or a Dask cluster.

The engine always dispatches through ``joblib.Parallel``; this module only sets
up the context. With Dask, joblib's Dask backend sends each trial to the
cluster; each repetition's prepared dataset is scattered to every worker once
(``broadcast``) when the context opens, and trials receive it by reference. The
driver (this process) keeps the store and the strategies, so adaptive
strategies and resume work as on one machine. When a Dask worker dies, the
scheduler runs its trials again elsewhere (same arguments, so the same seed and
the same result); a trial that kills workers repeatedly ends as ``KilledWorker``
and the engine records it as failed.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import joblib

from hpsearch.errors import RunError

BACKENDS = ("loky", "dask")
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
INSTALL_DASK = "pip install 'hpsearch[dask]'"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise RunError(f"the Dask backend needs dask.distributed, which is not installed: "
                       f"{INSTALL_DASK}") from None
    return distributed


def worker_death_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a worker process died under a trial."""
    from concurrent.futures import BrokenExecutor

    errors: tuple[type[BaseException], ...] = (BrokenExecutor,)
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:
        return errors
    return errors + (KilledWorker,)


@contextlib.contextmanager
def dask_client(scheduler: str | None, n_workers: int, timeout: float | None = None) -> Iterator:
    """A client of the cluster at ``scheduler``, or of a local cluster of ``n_workers`` processes."""
    distributed = _distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=timeout or CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise RunError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; start one with "
                           f"`dask scheduler` (and `dask worker {scheduler}`), or check the address") from None
        with client:
            yield client
        return
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            yield client


@contextlib.contextmanager
def dask_context(client, scatter: list) -> Iterator[None]:
    """joblib's Dask backend on ``client``, with ``scatter`` sent to every worker once."""
    with joblib.parallel_config(backend="dask", client=client, scatter=scatter):
        yield
