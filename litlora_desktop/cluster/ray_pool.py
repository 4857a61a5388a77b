"""One way to run many independent jobs on Ray, shared by the evaluation and batch tracking.

Each job is a Ray task with its CPU and GPU request. Ray reuses a worker process for the next task
(``max_calls=0``: Ray's default for GPU tasks is a fresh process per task, which would load the
model again every time), so ``worker_cache`` keeps what is expensive to build (the model) for the
life of the worker. A task whose worker process dies is retried by Ray (``retries``); a task that
raises is not (our jobs catch their own errors and return them as results, so an exception here
means a bug or a worker lost for good, and is reported per job).

The driver receives each result as it finishes (``on_result``), so it can store it at once: an
interrupted run keeps what finished.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ClusterError", "RayOptions", "import_ray", "run_on_ray", "worker_cache"]

T = TypeVar("T")

INSTALL_HINT = "pip install 'litlora-desktop[cluster]'"


class ClusterError(Exception):
    """A problem with Ray itself (not installed, no cluster at the address, not enough GPUs): one
    sentence for the user, never a traceback."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how the tasks run.

    ``address``: ``None`` starts a local Ray for this run with ``local_slots`` tasks at a time;
    ``"auto"`` joins the cluster this machine belongs to (``ray start``); ``host:port`` or
    ``ray://host:10001`` joins that one. ``gpus_per_task=None`` asks one GPU per task when the
    cluster has GPUs, none otherwise; fractions share a GPU between tasks.
    """

    address: str | None = None
    gpus_per_task: float | None = None
    cpus_per_task: float = 1.0
    retries: int = 3
    local_slots: int = 1


def import_ray() -> Any:
    """Ray, or a clear message saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"--ray needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


_CACHE: dict[str, tuple[Any, Any]] = {}
# Ray sets CUDA_VISIBLE_DEVICES per task, but a reused worker keeps the CUDA context of its first
# task: with every GPU visible, ``task_device`` names the task's own GPU instead.
_WORKER_ENV = {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}


def worker_cache(key: Any, build: Callable[[], T]) -> T:
    """What ``build`` returns, built once per worker process for the same ``key`` (the model of a run).

    One entry only: a worker that moves on to another model frees the previous one.
    """
    hit = _CACHE.get("value")
    if hit is not None and hit[0] == key:
        return hit[1]
    _CACHE.clear()
    value = build()
    _CACHE["value"] = (key, value)
    return value


def task_device(device: str | None, gpus: float) -> str | None:
    """The device a task's model goes on. With a GPU: the one Ray gave this task, by its id (workers
    see every GPU, ``_WORKER_ENV``, so a worker reused for a task on another GPU moves there instead
    of piling onto its first one). Without: the CPU, even on a GPU machine, unless asked otherwise
    (Ray does not hide GPUs from tasks that did not ask for one)."""
    if gpus > 0 and device != "cpu":
        import ray

        ids = ray.get_gpu_ids()
        return f"cuda:{int(ids[0])}" if ids else "cuda"
    if device in (None, "auto"):
        return "cpu"
    return device


def task_threads(options: RayOptions) -> int:
    """torch threads for a task: its CPU request (Ray does not pin a task to its cores)."""
    return max(1, int(options.cpus_per_task))


# Starting a local Ray logs that token authentication is on, with a link, on every run: Ray's own
# notice about a cluster that lives only as long as this command, not something a user acts on (Ray
# still does what it says: a token in ~/.ray/auth_token, RAY_AUTH_MODE=token in this process).
_TOKEN_NOTICE = "ray._private.authentication.authentication_token_setup"


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Warnings of one library logger left out while the block runs (errors still shown)."""
    log = logging.getLogger(name)
    before = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(before)


def _connect(ray: Any, options: RayOptions) -> bool:
    """Join or start Ray; True when this call started it (and so must shut it down)."""
    if ray.is_initialized():  # a caller (a test, a notebook) already connected
        return False
    common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if options.address is None:  # "local": a new Ray, even with RAY_ADDRESS set or `ray start` run
            slots = max(1, options.local_slots)
            cpus = max(1, int(slots * options.cpus_per_task + 0.999))
            # Ray runs its workers at niceness 15, so on a busy workstation anything else, Ray's own
            # daemons included, preempts the tracking: 1.3x the pool's wall time on 2 cores. A Ray
            # started for this run is this run's alone: its workers run at the driver's priority.
            with _quiet_logger(_TOKEN_NOTICE):
                ray.init(address="local", num_cpus=cpus, _system_config={"worker_niceness": 0}, **common)
        else:
            _check_reachable(options.address)
            ray.init(address=options.address, **common)
    except ClusterError:
        raise
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError, depending on the address
        if options.address == "auto":
            raise ClusterError(
                "no Ray cluster runs on this machine: start one (ray start --head) or give its address to --ray"
            ) from exc
        where = (
            "start a local Ray" if options.address is None else f"join the Ray cluster at '{options.address}'"
        )
        raise ClusterError(f"could not {where}: {_first_line(exc)}") from exc
    return True


def _check_reachable(address: str) -> None:
    """Ray keeps retrying an address nobody answers on, printing its own log lines, for minutes:
    try the port first and say it in one sentence."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"'{address}' is not a Ray address: give auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ClusterError(
            f"nothing answers at {hostport} ({exc.strerror or exc}): is the Ray head running there "
            "(ray start --head) and is the port open?"
        ) from None


def _gpus(ray: Any, options: RayOptions) -> float:
    """The GPUs each task asks for. A task runs on one machine, so what counts is the most GPUs one
    machine has, not the cluster's total (two machines with one GPU each never run a 2-GPU task)."""
    have = max(
        (float((n.get("Resources") or {}).get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive", True)),
        default=0.0,
    )
    want = options.gpus_per_task
    if want is None:
        return 1.0 if have >= 1 else 0.0
    if want < 0:
        raise ClusterError("--gpus-per-task cannot be negative")
    if want > 0 and have < want:
        raise ClusterError(
            f"each task asks for {want:g} GPU but no machine of the Ray cluster has more than {have:g}: the "
            "tasks would wait forever. Start Ray on machines with GPUs (ray start ... --num-gpus N), or pass "
            "a smaller --gpus-per-task (0: CPU only)."
        )
    return want


def run_on_ray(
    fn: Callable[..., Any],
    items: Iterable[Any],
    options: RayOptions,
    *,
    args: tuple[Any, ...] = (),
    on_result: Callable[[Any, Any], None],
    on_failure: Callable[[Any, str], None],
    on_start: Callable[[float], None] | None = None,
) -> None:
    """Run ``fn(item, gpus, *args)`` as one Ray task per item and hand each result back as it finishes.

    ``fn`` must be a module-level function of this package (workers import it by name, so the
    cluster's machines need litlora-desktop installed). ``gpus`` tells it whether a GPU was given.
    ``on_failure(item, message)`` gets a job Ray could not finish after its retries.
    """
    ray = import_ray()
    started = _connect(ray, options)
    try:
        gpus = _gpus(ray, options)
        if on_start is not None:
            on_start(gpus)
        remote = ray.remote(
            num_cpus=options.cpus_per_task,
            num_gpus=gpus,
            max_calls=0,  # keep the worker (and the model it loaded) for the next task
            max_retries=max(0, options.retries),
            runtime_env={"env_vars": _WORKER_ENV} if gpus > 0 else None,
        )(fn)
        pending = {remote.remote(item, gpus, *args): item for item in items}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    item = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the worker died more often than retries allow, or a bug
                        on_failure(item, f"worker failed: {_first_line(exc)}")
                    else:
                        on_result(item, result)
        finally:
            for ref in pending:  # interrupted: do not leave the cluster busy with our tasks
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()


def _first_line(exc: BaseException) -> str:
    """Ray's errors carry a remote traceback; the user gets its last meaningful line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[-1] if lines else exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."
