"""Fresh kernels, started ahead: one spare per worker thread while its current notebook runs.

Starting a kernel (a new Python process importing ipykernel) is most of what a verification
costs beyond the notebook itself, about half a second. ``verify-many`` runs notebooks back to
back on each worker, so each worker keeps *one* spare: once a verification's kernel runs its
first cell, the next one starts in the background, and is ready when the next notebook comes. Every
notebook still runs in a kernel that has run nothing: a spare is handed out once, and a kernel
that ran a notebook is always shut down (in the background too, off the critical path), never
reused.

A spare is started in its own empty temporary directory (the working copy is laid out there
when it is taken: the kernel's cwd is where the notebook runs) with the environment of this
process, as a kernel started on demand would be. Spares are per thread (a Dask worker runs its
tasks on one thread); :func:`drain` stops them at the end of a run, and at interpreter exit.

One job: hand out fresh kernels quickly (pre-started per worker), and stop them off the
critical path, without ever reusing a kernel that ran a notebook.

May import: nothing; never ecasrepro.api, ecasrepro.cli, ecasrepro.magic or a higher module of
this package (.execute, .verify).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as StartTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: what nbclient passes to an IPython kernel it starts (no SQLite history file per run)
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
LOG_NAME = "kernel-stderr.log"
STARTUP_TIMEOUT = 60.0  # nbclient's default
#: what a drain waits for the background starts and stops at most (a kill takes < 5 s)
DRAIN_TIMEOUT = 30.0
#: a Unix socket's path must fit in sockaddr_un (108 bytes on Linux, 104 on macOS)
MAX_SOCKET_PATH = 100


@dataclass
class Kernel:
    """A started kernel, its temporary directory (``root/notebook`` is its cwd) and its log."""

    name: str
    root: Path
    manager: Any
    log: Any = field(repr=False)
    #: called once, when the notebook's first cell starts (the pool then starts the next
    #: spare); each must return at once (it runs inside nbclient's cell loop)
    first_cell_hooks: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def first_cell_started(self) -> None:
        """The kernel is up and working: what waited for that may start now (once)."""
        hooks, self.first_cell_hooks = self.first_cell_hooks, []
        for hook in hooks:
            hook()

    @property
    def workdir(self) -> Path:
        return self.root / "notebook"

    @property
    def log_path(self) -> Path:
        return self.root / LOG_NAME


_client_class: Any = None


def ready_client_class() -> Any:
    """jupyter_client's asyncio client, with a readiness check that costs no idle wait.

    ``wait_for_ready`` upstream ends by reading IOPub until it has been quiet for 0.2 s (a
    fixed 0.2 s per kernel). Here the kernel is ready once a reply to one of our
    ``kernel_info`` requests came on the shell channel *and* a message came on IOPub (so the
    subscription is live and no output of the first cell can be missed); stray messages stay
    queued, and nbclient ignores messages that are not its requests' children."""
    global _client_class
    if _client_class is not None:
        return _client_class
    import time
    from queue import Empty

    from jupyter_client.asynchronous.client import AsyncKernelClient

    class ReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (STARTUP_TIMEOUT if timeout is None else timeout)
            asked: set[str] = set()
            subscribed = False
            while True:
                asked.add(self.kernel_info())
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    reply = None
                # a reply to any of our requests (a slow kernel answers an earlier one)
                if (reply is not None and reply["msg_type"] == "kernel_info_reply"
                        and reply["parent_header"].get("msg_id") in asked):
                    subscribed = subscribed or await self._iopub_heard(1.0)
                    if subscribed:
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

        async def _iopub_heard(self, seconds: float) -> bool:
            """Whether a message arrives on IOPub: then the subscription is live (a PUB
            socket drops what it sends before a subscriber is connected)."""
            try:
                await self.iopub_channel.get_msg(timeout=seconds)
            except Empty:
                return False
            return True

    _client_class = ReadyClient
    return ReadyClient


def transport_of(root: Path) -> dict[str, str]:
    """How the kernel in ``root`` is reached: Unix sockets in ``root`` where they can be.

    Over TCP on loopback, each kernel's five ports are picked free and then bound by the
    kernel a moment later; kernels started at once in several processes (Dask workers),
    or any connection taking that port meanwhile as its own source port, make the kernel
    die at start or a client reach the wrong kernel. Socket files in the kernel's own
    directory cannot collide. TCP remains where there are no Unix sockets (Windows) or the
    temporary directory's path is too long for one."""
    ipc = root / "ipc"
    if os.name != "posix" or len(os.fsencode(f"{ipc}-99")) > MAX_SOCKET_PATH:
        return {}
    return {"transport": "ipc", "ip": str(ipc)}


def start_kernel(name: str) -> Kernel:
    """A new kernel ``name`` in a new empty temporary directory (its cwd)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    root = Path(tempfile.mkdtemp(prefix="ecasrepro-verify-"))
    (root / "notebook").mkdir()
    log = open(root / LOG_NAME, "wb")  # noqa: SIM115 - closed by stop_kernel
    manager = AsyncKernelManager(kernel_name=name, **transport_of(root))
    manager.client_factory = ready_client_class()
    kernel = Kernel(name, root, manager, log)
    try:
        run_sync(manager.start_kernel)(cwd=str(root / "notebook"), stderr=log,
                                       extra_arguments=list(KERNEL_ARGUMENTS))
    except BaseException:
        stop_kernel(kernel)
        raise
    return kernel


def stop_kernel(kernel: Kernel) -> None:
    """Shut the kernel down (at once: its notebook is over) and remove its directory."""
    from jupyter_core.utils import run_sync

    try:
        with contextlib.suppress(Exception):
            if kernel.manager.has_kernel:
                run_sync(kernel.manager.shutdown_kernel)(now=True)
        with contextlib.suppress(Exception):
            run_sync(kernel.manager.cleanup_resources)()
    finally:
        kernel.log.close()
        shutil.rmtree(kernel.root, ignore_errors=True)


class KernelPool:
    """One pre-started spare per (thread, kernel name); starts and stops in the background.

    Starts and stops have a thread pool each, so that a slow stop never holds up the start
    a notebook is waiting for; every wait on them is bounded."""

    def __init__(self) -> None:
        self._spares: dict[tuple[int, str], Future[Kernel]] = {}
        self._lock = threading.RLock()
        self._pending: set[Future[Any]] = set()
        self._starts = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ecasrepro-start")
        self._stops = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ecasrepro-stop")

    def _start(self, name: str) -> Future[Kernel]:
        return self._submit(self._starts, start_kernel, name)

    def _stop(self, kernel: Kernel) -> None:
        self._submit(self._stops, stop_kernel, kernel)

    def _stop_when_started(self, spare: Future[Kernel]) -> None:
        """Stop a spare nobody will take, whenever its start ends (pending until stopped)."""
        stopped: Future[None] = Future()
        with self._lock:
            self._pending.add(stopped)

        def finish(_: object = None) -> None:
            with self._lock:
                self._pending.discard(stopped)
            stopped.set_result(None)

        def stop(future: Future[Kernel]) -> None:
            if future.cancelled() or future.exception() is not None:
                finish()
            else:
                self._stops.submit(stop_kernel, future.result()).add_done_callback(finish)
        spare.add_done_callback(stop)

    def _submit(self, pool: ThreadPoolExecutor, fn: Any, *args: Any) -> Future[Any]:
        future = pool.submit(fn, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    @contextlib.contextmanager
    def kernel(self, name: str, prestart: bool = True) -> Iterator[Kernel]:
        """A fresh kernel for one notebook; with ``prestart`` the next one starts meanwhile.

        The kernel is stopped when the block ends, whatever happened in it."""
        key = (threading.get_ident(), name)
        with self._lock:
            spare = self._spares.pop(key, None)
        kernel: Kernel | None = None
        if spare is not None:
            try:
                kernel = spare.result(timeout=STARTUP_TIMEOUT)
                if not kernel.manager.provisioner or kernel.manager.provisioner.process is None or (
                        kernel.manager.provisioner.process.poll() is not None):  # it died
                    self._stop(kernel)
                    kernel = None
            except StartTimeout:
                self._stop_when_started(spare)  # stuck starting: never wait on it again
            except Exception:
                kernel = None  # starting it failed; start one now, which reports why
        if kernel is None:
            kernel = start_kernel(name)
        if prestart:
            # The next spare starts once this kernel runs its first cell: started at once, it
            # would compete for the CPU with this kernel's own start (a cold start of every
            # worker at once) and delay this notebook; during a cell it costs nothing.
            def start_spare() -> None:
                with self._lock:
                    if key not in self._spares:
                        self._spares[key] = self._start(name)
            kernel.first_cell_hooks.append(start_spare)
        try:
            yield kernel
        finally:
            if prestart:  # a run of many: the next notebook need not wait for this stop
                kernel.first_cell_started()  # no cell ran: the next one is started now
                self._stop(kernel)
            else:
                stop_kernel(kernel)

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Stop every spare and wait, at most ``timeout`` seconds, for the background work."""
        with self._lock:
            spares, self._spares = list(self._spares.values()), {}
        for spare in spares:
            self._stop_when_started(spare)
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)


POOL = KernelPool()


def drain() -> None:
    """Stop this process's spare kernels (a run's end: run on every worker)."""
    POOL.drain()


atexit.register(drain)

__all__ = ["POOL", "Kernel", "KernelPool", "drain", "start_kernel", "stop_kernel"]
