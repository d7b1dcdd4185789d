"""Executors: where the per-analysis work of ``archive`` and ``verify-many`` runs.

The work itself is plain library functions (``archival._archive_one``, a verify of one bundle);
an executor only runs them, one task per analysis, and hands back results as they finish. Two
are built in, picked by name from a registry (one engine per concern, as papermill's engines):

* ``dask`` -- Dask distributed: an embedded ``LocalCluster`` sized to the machine (threads, no
  set-up), or an existing cluster at ``scheduler`` (``tcp://HOST:PORT``, else
  ``DASK_SCHEDULER_ADDRESS``): dask-jobqueue on Slurm, Dask Gateway, ``dask scheduler``;
* ``local`` -- a pool of threads in this process (the analyses' heavy parts release the GIL:
  hashing, zlib, file I/O, kernels in their own processes).

``auto`` is ``dask`` when ``distributed`` is installed (or a scheduler is named), else
``local`` with a notice saying how to get Dask. Inputs are streamed: at most ``window`` tasks
are in flight, so the driver never holds a list of every analysis, and a task's exception is
its result's problem, never the run's (callers' functions return outcomes, not raise). Each
executor also offers a *pacer* (:meth:`Executor.pacer`): one request rate and one back-off for
all its workers, which the B2SHARE client consults (``b2share.client.set_pacer``).

One job: run one function over a stream of items on a chosen executor with a bounded number in
flight, so that archival and verification scale from a laptop to a cluster unchanged.

May import: ecasrepro.errors; never ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ecasrepro.errors import BadInput, ServerUnreachable

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DASK_HINT = "pip install 'ecasrepro[dask]'"
#: tasks in flight per worker thread: enough to keep every worker busy between completions.
WINDOW_PER_WORKER = 2
#: Dask tasks are sized to about this long: items shorter than that (a small archive, ~10 ms)
#: are batched so that the scheduler's few ms per task stay small; minutes-long ones go alone.
BATCH_SECONDS = 0.25
MAX_BATCH = 32
#: Dask settings for the embedded cluster only (an operator's cluster keeps its own). Its
#: diagnostics run on event loops in this process and take the GIL from the analyses' threads:
#: the statistical profiler every 10 ms, the loop-health tick every 20 ms, the system and memory
#: monitors; idle they cost 8% of a core, and nobody sees them (it has no dashboard).
EMBEDDED_CLUSTER_CONFIG: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def default_workers() -> int:
    """Worker threads when none is asked for: the machine's CPUs, at most 4 (as ``--jobs``)."""
    return max(1, min(4, os.cpu_count() or 1))


def dask_available() -> bool:
    return importlib.util.find_spec("distributed") is not None


class Executor(Protocol):
    """Runs ``fn(item, *args)`` for each item; yields ``(item, result)`` as tasks finish."""

    name: str
    workers: int
    #: one sentence for the user (e.g. how to get Dask), or None
    notice: str | None

    def imap_unordered(self, fn: Callable[..., R], items: Iterable[T], *args: Any,
                       on_error: Callable[[T, BaseException], R]) -> Iterator[tuple[T, R]]: ...

    def pacer(self, rate: float) -> Any:
        """A shared rate and back-off for HTTP requests from every worker (picklable)."""

    def on_every_worker(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` once in every worker's process (a clean-up at the end of a run)."""

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalExecutor:
    """Threads in this process: no dependency, no start-up cost."""

    name = "local"

    def __init__(self, workers: int | None = None, notice: str | None = None) -> None:
        self.workers = workers or default_workers()
        self.notice = notice
        self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                        thread_name_prefix="ecasrepro-task")

    def imap_unordered(self, fn: Callable[..., R], items: Iterable[T], *args: Any,
                       on_error: Callable[[T, BaseException], R]) -> Iterator[tuple[T, R]]:
        window = self.workers * WINDOW_PER_WORKER
        running: dict[Future[R], T] = {}
        source = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(running) < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                running[self._pool.submit(fn, item, *args)] = item
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                error = future.exception()
                yield item, on_error(item, error) if error is not None else future.result()

    def pacer(self, rate: float) -> LocalPacer:
        """A rate and back-off shared by this pool's workers (requests per second)."""
        return LocalPacer(rate)

    def on_every_worker(self, fn: Callable[[], object]) -> None:
        fn()  # the workers are threads of this process

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Dask distributed: an embedded LocalCluster, or the cluster at ``scheduler``.

    A task that keeps failing (its worker killed more than ``retries`` times) becomes
    ``on_error(item, exception)``: a failed outcome for that analysis, never a stopped run.
    Items that finish fast are batched (a task sized to about ``BATCH_SECONDS``, measured as
    the run goes; the first task holds one item). Tasks are submitted impure (``pure=False``:
    the same analysis twice is two runs) with ``retries`` so that a task lost with a killed
    worker is run again elsewhere; the functions are idempotent (atomic outputs, receipts) so
    a repeat is safe.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 processes: bool = False, retries: int = 2) -> None:
        if not dask_available():
            raise BadInput(f"the dask executor needs Dask distributed; {DASK_HINT}.")
        from distributed import Client, LocalCluster

        self.notice: str | None = None
        self.retries = retries
        self._cluster: Any = None
        address = scheduler or os.environ.get(SCHEDULER_ENV) or None
        try:
            if address:
                self.client = Client(address, timeout="20s")
            else:
                import dask

                with dask.config.set(EMBEDDED_CLUSTER_CONFIG):  # read as the cluster starts
                    self._cluster = LocalCluster(
                        n_workers=workers or default_workers(), threads_per_worker=1,
                        processes=processes, dashboard_address=None,
                        # no dashboard; its plain HTTP routes on a free local port, not :8787
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    )
                self.client = Client(self._cluster)
        except OSError as exc:
            raise ServerUnreachable(
                f"cannot reach the Dask scheduler at {address} ({exc}); check --scheduler or "
                f"{SCHEDULER_ENV}."
            ) from None
        self.address = address or self._cluster.scheduler_address
        threads = sum(self.client.nthreads().values())
        self.workers = max(1, threads)

    def imap_unordered(self, fn: Callable[..., R], items: Iterable[T], *args: Any,
                       on_error: Callable[[T, BaseException], R]) -> Iterator[tuple[T, R]]:
        from distributed import as_completed

        # a cluster may grow while running (adaptive, jobqueue): size the window as it starts
        window = max(self.workers, sum(self.client.nthreads().values())) * WINDOW_PER_WORKER
        running: dict[Any, list[T]] = {}
        source = iter(items)
        queue = as_completed()
        batch = 1
        per_item: float | None = None  # seconds, a moving average measured on the workers

        def submit_next() -> bool:
            chunk = list(itertools.islice(source, batch))
            if not chunk:
                return False
            future = self.client.submit(_run_batch, fn, chunk, args, pure=False,
                                        retries=self.retries)
            running[future.key] = chunk
            queue.add(future)
            return True

        while len(running) < window and submit_next():
            pass
        for future in queue:
            chunk = running.pop(future.key)
            try:
                results, seconds = future.result()
            except Exception as exc:  # e.g. KilledWorker: the task's worker died too often
                results = [_Failed(exc)] * len(chunk)
                seconds = None
            future.release()
            for item, result in zip(chunk, results, strict=True):
                if isinstance(result, _Failed):
                    yield item, on_error(item, result.error)
                else:
                    yield item, result
            if seconds is not None:
                mean = seconds / len(chunk)
                per_item = mean if per_item is None else 0.7 * per_item + 0.3 * mean
                batch = max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(per_item, 1e-6))))
            submit_next()

    def pacer(self, rate: float) -> DaskPacer:
        """A rate and back-off shared by every worker of the cluster (requests per second)."""
        return DaskPacer(f"ecasrepro-pacer-{uuid.uuid4().hex}", rate).start(self.client)

    def on_every_worker(self, fn: Callable[[], object]) -> None:
        try:
            self.client.run(_off_the_event_loop, fn)
        except Exception:  # a worker gone meanwhile has nothing left to clean
            return

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalPacer:
    """A shared rate and back-off for the threads of one process (the local pool)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._lock = threading.Lock()
        self._next = 0.0  # time.time() of the next free slot
        self._pause = 0.0  # no request before this time.time()

    def wait(self) -> None:
        with self._lock:
            now = time.time()
            mine = max(now, self._next, self._pause)
            self._next = mine + self.interval
        if mine > now:
            time.sleep(mine - now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._pause = max(self._pause, time.time() + seconds)


class DaskPacer:
    """The same over a Dask cluster: the slot and the pause live on the scheduler.

    Picklable (a name and a rate); on a worker it reaches the scheduler through the task's
    client. The next free slot is a ``distributed.Variable`` updated under a
    ``distributed.Lock`` (a token bucket of one token); a 429/503 sets the pause Variable, which
    every worker reads before its next request. Times are ``time.time()``, so the nodes' clocks
    should agree (NTP) within a fraction of the interval.
    """

    def __init__(self, name: str, rate: float) -> None:
        self.name = name
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def start(self, client: Any) -> DaskPacer:
        from distributed import Variable

        Variable(f"{self.name}-next", client=client).set(0.0)
        Variable(f"{self.name}-pause", client=client).set(0.0)
        return self

    def _vars(self) -> tuple[Any, Any, Any]:
        from distributed import Lock, Variable

        return (Lock(f"{self.name}-lock"), Variable(f"{self.name}-next"),
                Variable(f"{self.name}-pause"))

    def wait(self) -> None:
        lock, slot, pause = self._vars()
        with lock:
            now = time.time()
            mine = max(now, float(slot.get()), float(pause.get()))
            slot.set(mine + self.interval)
        if mine > now:
            time.sleep(mine - now)

    def hold(self, seconds: float) -> None:
        lock, _, pause = self._vars()
        with lock:
            pause.set(max(float(pause.get()), time.time() + seconds))


async def _off_the_event_loop(fn: Callable[[], object]) -> object:
    """Run ``fn`` on a worker in a thread: ``Client.run`` calls a plain function on the
    worker's event loop, where a clean-up that blocks would stop the worker's heartbeats and
    every task after it."""
    import asyncio

    return await asyncio.to_thread(fn)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _run_batch(fn: Callable[..., R], chunk: list[T], args: tuple[Any, ...]
               ) -> tuple[list[R | _Failed], float]:
    """One Dask task: ``fn`` over a few items, each failure kept to its item; and the time."""
    start = time.perf_counter()
    results: list[R | _Failed] = []
    for item in chunk:
        try:
            results.append(fn(item, *args))
        except Exception as exc:
            results.append(_Failed(exc))
    return results, time.perf_counter() - start


ExecutorFactory = Callable[..., Executor]
_factories: dict[str, ExecutorFactory] = {}


def register(name: str, factory: ExecutorFactory) -> None:
    """Make ``factory(workers=..., scheduler=...)`` available as executor ``name``."""
    _factories[name] = factory


def executor_names() -> tuple[str, ...]:
    return ("auto", *sorted(_factories))


def _local(workers: int | None = None, scheduler: str | None = None, **_: Any) -> Executor:
    if scheduler:
        raise BadInput("--scheduler needs the dask executor; drop --executor local.")
    return LocalExecutor(workers)


def _dask(workers: int | None = None, scheduler: str | None = None, **options: Any) -> Executor:
    return DaskExecutor(workers, scheduler, **options)


register("local", _local)
register("dask", _dask)


def open_executor(name: str = "auto", *, workers: int | None = None,
                  scheduler: str | None = None, **options: Any) -> Executor:
    """The executor ``name`` (``auto``: Dask when installed or a scheduler is named, else the
    local pool with a notice); the caller closes it (it is a context manager)."""
    if name == "auto":
        if dask_available():
            name = "dask"
        elif scheduler or os.environ.get(SCHEDULER_ENV):
            raise BadInput(f"a Dask scheduler was named but Dask is not installed; {DASK_HINT}.")
        else:
            return LocalExecutor(workers, notice=(
                f"running on a local pool of threads; for Dask (clusters, Slurm) {DASK_HINT}."))
    factory = _factories.get(name)
    if factory is None:
        raise BadInput(
            f"executor {name!r} is not one of {', '.join(executor_names())}; pick one."
        )
    return factory(workers=workers, scheduler=scheduler, **options)


__all__ = [
    "DaskExecutor",
    "DaskPacer",
    "Executor",
    "LocalExecutor",
    "LocalPacer",
    "dask_available",
    "executor_names",
    "open_executor",
    "register",
]
