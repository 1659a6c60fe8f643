"""Where sweep cells run: local processes (the default) or a Ray cluster.

An executor takes :class:`~monge.run.worker.CellTask` objects and reports events back to the sweep driver:
``ProgressEvent`` (a running cell's step, for the live display), ``DoneEvent`` (the cell's
:class:`~monge.run.worker.CellOutcome`) and ``FailedEvent`` (the worker raised or died: the driver decides
whether to retry). Workers never write the results database; the driver does.

- :class:`LocalExecutor`: ``workers`` long-lived worker processes, each running one cell at a time, started
  from a fork server that has already imported torch and monge. A worker that dies (killed, out of memory) is
  noticed through its process sentinel, its cell is reported with the exit code, and a fresh worker replaces
  it. A worker whose driver has died stops itself within a second.
- :class:`RayExecutor`: one Ray task per cell with the resources asked for (``num_cpus``, ``num_gpus``); Ray's
  own retries are off so that every retry goes through the driver's bounded count. Needs ``pip install
  'monge[ray]'``. For a cluster, the sweep's output folder (checkpoints, results) must be on storage every
  node can reach.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from monge.errors import InvalidInputError, MissingDependencyError
from monge.run.worker import CellOutcome, CellTask, run_cell


@dataclass(frozen=True)
class ProgressEvent:
    """A running cell reached ``step`` of ``steps`` (``info``: latest loss and metrics)."""

    task: CellTask
    step: int
    steps: int
    info: str


@dataclass(frozen=True)
class DoneEvent:
    """A cell ended (finished, stopped, diverged or failed inside monge); ``outcome`` holds its run record."""

    task: CellTask
    outcome: CellOutcome


@dataclass(frozen=True)
class FailedEvent:
    """The worker running ``task`` raised an unexpected error or died; ``error`` says what happened."""

    task: CellTask
    error: str


class Executor(ABC):
    """Runs cells and reports their events; see the module docstring."""

    name = "executor"

    @abstractmethod
    def submit(self, task: CellTask) -> None:
        """Queue ``task``; it starts when a slot is free."""

    @abstractmethod
    def events(self, timeout: float | None = None) -> list[Any]:
        """Wait up to ``timeout`` seconds (``None``: until something happens) and return the new events."""

    @abstractmethod
    def pending(self) -> int:
        """Cells submitted and not yet reported done or failed."""

    def close(self) -> None:
        """Stop any worker still running and release resources."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------- local processes
def default_workers(threads_per_run: int = 1) -> int:
    """Worker processes that keep this machine's CPUs busy: usable CPUs // threads per run (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, int(threads_per_run)))


def _watch_driver(driver_pid: int) -> None:
    """Exit this worker when the driver process is gone (so a killed sweep leaves no orphans)."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(driver_pid, 0)
        except ProcessLookupError:
            os._exit(3)
        except PermissionError:  # the pid exists (reused by another user's process): keep going
            pass


def _worker_main(conn: Connection, driver_pid: int) -> None:
    """Entry point of a local worker process: run the cells the driver sends through ``conn``, one at a time,
    and send back their events, until the driver sends ``None`` or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the driver, which stops the workers
    threading.Thread(target=_watch_driver, args=(driver_pid,), daemon=True).start()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        try:
            outcome = run_cell(task, progress=lambda step, steps, info: conn.send(("progress", step, steps, info)))
            conn.send(("done", outcome))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            os._exit(3)  # the driver is gone (killed or stopped): its checkpoint lets a rerun resume this cell
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the driver
            try:
                conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))
            except (BrokenPipeError, ConnectionResetError, EOFError):
                os._exit(3)
    conn.close()


_PRELOAD = ["monge.run.worker", "monge.solvers", "monge.pairs", "monge.metrics"]


def _context(start_method: str | None) -> Any:
    methods = multiprocessing.get_all_start_methods()
    method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
    if method not in methods:
        raise InvalidInputError(f"process start method {method!r} is not available here (have {methods})")
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class _Worker:
    """One worker process, its connection, and the cell it is running (``None`` when idle)."""

    def __init__(self, ctx: Any):
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child_conn, os.getpid()), name="monge-sweep-worker",
                                   daemon=True)
        self.process.start()
        child_conn.close()  # the worker holds the other end: EOF here means it is gone
        self.task: CellTask | None = None
        self.cells = 0


class LocalExecutor(Executor):
    """Runs cells in worker processes on this machine, ``workers`` at a time.

    Each worker process runs one cell at a time and then the next one it is given, so the cost of starting
    a process and warming up torch (about a second per process here) is paid once per worker, not per cell.
    A worker that dies is noticed through its process sentinel; its cell is reported failed (with the exit
    code or signal) and a fresh worker takes the next cell. Workers are replaced after
    ``cells_per_worker`` cells when that is set (a bound on slow leaks in long sweeps).

    Args:
        workers: processes at once (default :func:`default_workers`).
        start_method: ``"forkserver"`` (default where available: imports torch once) or ``"spawn"``.
            ``"fork"`` is refused: forking a process that has used torch's thread pools can hang.
        cells_per_worker: replace a worker after this many cells (default: never).
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, start_method: str | None = None,
                 cells_per_worker: int | None = None):
        for label, value in (("workers", workers), ("cells_per_worker", cells_per_worker)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")
        if start_method == "fork":
            raise InvalidInputError("start method 'fork' is not safe with torch; use 'forkserver' or 'spawn'")
        self.workers = workers or default_workers()
        self.cells_per_worker = cells_per_worker
        self._ctx = _context(start_method)
        self._queue: deque[CellTask] = deque()
        self._pool: list[_Worker] = []

    def submit(self, task: CellTask) -> None:
        self._queue.append(task)

    def pending(self) -> int:
        return len(self._queue) + sum(w.task is not None for w in self._pool)

    def running_pids(self) -> dict[int, CellTask]:
        """Process id of each busy worker and its cell (for tests and monitoring)."""
        return {w.process.pid: w.task for w in self._pool if w.task is not None}

    def _assign(self) -> None:
        while self._queue:
            idle = next((w for w in self._pool if w.task is None), None)
            if idle is None:
                if len(self._pool) >= self.workers:
                    return
                idle = _Worker(self._ctx)
                self._pool.append(idle)
            task = self._queue.popleft()
            try:
                idle.conn.send(task)
            except (BrokenPipeError, OSError):  # died while idle: drop it and give the cell to another
                self._queue.appendleft(task)
                self._retire(idle, kill=True)
                continue
            idle.task = task

    def _retire(self, worker: _Worker, *, kill: bool = False) -> None:
        if worker in self._pool:
            self._pool.remove(worker)
        if kill and worker.process.is_alive():
            worker.process.kill()
        elif worker.process.is_alive():
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()

    def events(self, timeout: float | None = None) -> list[Any]:
        self._assign()
        busy = [w for w in self._pool if w.task is not None]
        if not busy:
            return []
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
        out: list[Any] = []
        for worker in busy:
            task, final = worker.task, None
            try:
                while worker.conn.poll():
                    message = worker.conn.recv()
                    if message[0] == "progress":
                        out.append(ProgressEvent(task, *message[1:]))
                    else:
                        final = message
                        break
            except (EOFError, OSError):
                pass  # the worker is gone; handled below
            if final is not None:
                worker.task = None
                worker.cells += 1
                out.append(DoneEvent(task, final[1]) if final[0] == "done" else FailedEvent(task, final[1]))
                if self.cells_per_worker is not None and worker.cells >= self.cells_per_worker:
                    self._retire(worker)
            elif not worker.process.is_alive():
                worker.process.join(timeout=5)
                pid, code = worker.process.pid, worker.process.exitcode
                self._retire(worker)
                out.append(FailedEvent(task, f"worker process {pid} died ({_describe_exit(code)})"))
        self._assign()
        return out

    def close(self) -> None:
        self._queue.clear()
        for worker in list(self._pool):
            self._retire(worker, kill=worker.task is not None)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ---------------------------------------------------------------------------- Ray
def _require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray", "the Ray executor (--executor ray)") from exc
    return ray


def _ray_cell(task: CellTask) -> CellOutcome:
    """The function Ray runs for one cell (no live progress: Ray reports completion only)."""
    return run_cell(task)


class RayExecutor(Executor):
    """Runs each cell as a Ray task.

    Args:
        address: ``None`` starts a local Ray instance (with ``num_cpus_total`` CPUs if given); ``"auto"`` joins the
            cluster this machine belongs to; ``"HOST:PORT"`` (or ``"ray://HOST:PORT"``) joins that cluster.
        num_cpus, num_gpus: resources each cell asks for (``num_gpus=1`` puts every cell on its own GPU).
        num_cpus_total: CPUs of a local instance started by this executor.

    A Ray instance this executor started is shut down by :meth:`close`; one it joined is left running.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
                 num_cpus_total: int | None = None):
        for label, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidInputError(f"Ray executor: {label} must be a number >= 0, got {value!r}")
        ray = _require_ray()
        self._ray = ray
        self._started_here = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address is None:
                kwargs["num_cpus"] = num_cpus_total
                self._started_here = True
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InvalidInputError(f"Ray executor: cannot start or join Ray at {address or 'a local instance'} "
                                        f"({exc})") from exc
        self._remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(_ray_cell)
        self._refs: dict[Any, CellTask] = {}

    def submit(self, task: CellTask) -> None:
        self._refs[self._remote.remote(task)] = task

    def pending(self) -> int:
        return len(self._refs)

    def events(self, timeout: float | None = None) -> list[Any]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out: list[Any] = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                out.append(DoneEvent(task, self._ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - task errors, crashed workers, lost nodes
                out.append(FailedEvent(task, f"{type(exc).__name__}: {exc}"))
        return out

    def close(self) -> None:
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        self._refs.clear()
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(kind: str, *, workers: int | None = None, address: str | None = None, num_cpus: float = 1,
                  num_gpus: float = 0) -> Executor:
    """``"local"`` → :class:`LocalExecutor` (``workers``), ``"ray"`` → :class:`RayExecutor` (``address`` and
    resources per run; a local Ray instance gets ``workers`` CPUs when ``address`` is ``None``)."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(address, num_cpus=num_cpus, num_gpus=num_gpus, num_cpus_total=workers)
    raise InvalidInputError(f"executor must be 'local' or 'ray', got {kind!r}")


__all__ = ["DoneEvent", "Executor", "FailedEvent", "LocalExecutor", "ProgressEvent", "RayExecutor",
           "default_workers", "make_executor"]
