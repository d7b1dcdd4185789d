"""The pre-started kernels of ``verify-many`` (real kernels): each notebook gets a kernel that
ran nothing before, the next one is started while the current one runs, and a run's end (or a
dead spare) leaves no kernel process or directory behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from ecasrepro.verification.kernels import KernelPool


def pid_of(kernel: object) -> int:
    return int(kernel.manager.provisioner.process.pid)  # type: ignore[attr-defined]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def wait_gone(pid: int, root: Path, seconds: float = 10) -> bool:
    """Whether the kernel's process and its directory are gone (stopped in the background)."""
    end = time.monotonic() + seconds
    while (alive(pid) or root.exists()) and time.monotonic() < end:
        time.sleep(0.05)
    return not alive(pid) and not root.exists()


def test_every_notebook_gets_a_fresh_kernel_and_the_next_is_started_meanwhile() -> None:
    pool = KernelPool()
    with pool.kernel("python3") as first:
        first_pid, first_dir = pid_of(first), first.root
        assert not pool._spares  # not while this one starts: they would compete for the CPU
        first.first_cell_started()
        first.first_cell_started()  # once only
        (spare_future,) = pool._spares.values()  # started while this one is in use
        spare = spare_future.result(timeout=30)
        assert pid_of(spare) != first_pid and spare.root != first_dir
    assert wait_gone(first_pid, first_dir)  # a used kernel is never kept
    start = time.monotonic()
    with pool.kernel("python3") as second:
        taken = time.monotonic() - start
        assert pid_of(second) == pid_of(spare)  # the spare, not a reused or new one
        assert taken < 0.5  # already running: no start-up on this path
        assert not any(second.workdir.iterdir())  # an empty directory for the working copy
        second_pid = pid_of(second)
        second.first_cell_started()
        third = next(iter(pool._spares.values())).result(timeout=30)
        third_pid = pid_of(third)
    pool.drain()  # a run's end: the spare too
    assert not pool._spares
    assert wait_gone(second_pid, second.root) and wait_gone(third_pid, third.root)


def test_a_spare_that_died_is_never_handed_out() -> None:
    pool = KernelPool()
    with pool.kernel("python3"):
        pass  # no cell ran: the next kernel is started as the block ends
    spare = next(iter(pool._spares.values())).result(timeout=30)
    dead = pid_of(spare)
    os.kill(dead, signal.SIGKILL)
    end = time.monotonic() + 10
    while alive(dead) and time.monotonic() < end:
        time.sleep(0.05)
    with pool.kernel("python3", prestart=False) as kernel:
        assert pid_of(kernel) != dead and alive(pid_of(kernel))
    pool.drain()
    assert not spare.root.exists()


def test_a_kernel_slow_to_answer_is_still_found_ready() -> None:
    """A kernel that answers late (a loaded machine) answers an earlier kernel_info than the
    latest one asked: that reply counts (it once did not, and every later one lagged too)."""
    from jupyter_core.utils import run_sync

    from ecasrepro.verification.kernels import start_kernel, stop_kernel

    kernel = start_kernel("python3")
    client = kernel.manager.client()
    try:
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=30)  # up once
        os.kill(pid_of(kernel), signal.SIGSTOP)  # now it answers nothing for 2.5 s
        threading.Timer(2.5, os.kill, (pid_of(kernel), signal.SIGCONT)).start()
        start = time.monotonic()
        run_sync(client.wait_for_ready)(timeout=20)
        assert 2.0 < time.monotonic() - start < 8
    finally:
        client.stop_channels()
        stop_kernel(kernel)


def test_kernels_are_reached_over_unix_sockets_in_their_own_directory() -> None:
    """TCP ports picked free and bound a moment later collide when kernels start at once in
    several processes (a Dask worker's kernel once died so); socket files cannot."""
    from ecasrepro.verification.kernels import start_kernel, stop_kernel

    kernels = []
    try:
        threads = [threading.Thread(target=lambda: kernels.append(start_kernel("python3")))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(kernels) == 4
        for kernel in kernels:
            info = kernel.manager.get_connection_info()
            assert info["transport"] == "ipc"
            assert Path(info["ip"]).parent == kernel.root  # not the notebook's cwd
        roots = {k.root for k in kernels}
        for kernel in kernels:  # every one answers, on its own sockets
            client = kernel.manager.client()
            try:
                client.start_channels()
                from jupyter_core.utils import run_sync

                run_sync(client.wait_for_ready)(timeout=30)
            finally:
                client.stop_channels()
    finally:
        for kernel in kernels:
            stop_kernel(kernel)
    assert not any(root.exists() for root in roots)


def test_a_temporary_directory_too_long_for_a_socket_path_falls_back_to_tcp() -> None:
    from ecasrepro.verification.kernels import MAX_SOCKET_PATH, transport_of

    assert transport_of(Path("/tmp/short"))["transport"] == "ipc"
    assert transport_of(Path("/tmp") / ("d" * MAX_SOCKET_PATH)) == {}


def test_drain_is_bounded_when_a_start_never_ends() -> None:
    from concurrent.futures import Future

    pool = KernelPool()
    stuck: Future[object] = Future()  # a spare whose start never ends
    pool._spares[(threading.get_ident(), "python3")] = stuck  # type: ignore[assignment]
    start = time.monotonic()
    pool.drain(timeout=0.5)
    assert time.monotonic() - start < 2
    assert not pool._spares
