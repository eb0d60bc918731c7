"""Fake of Houdini's ``hdefereval`` (tests only).

Work posted from other threads waits in a queue until the "main thread" runs :func:`process_events`,
the way Houdini's event loop would. Calling ``executeInMainThreadWithResult`` from the main thread is
refused, because it deadlocks real Houdini.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

_QUEUE: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], _Reply | None]] = queue.Queue()


class _Reply:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


def _main() -> threading.Thread:
    import fake_hou

    return fake_hou.SESSION.main_thread


def executeDeferred(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    _QUEUE.put((fn, args, kwargs, None))


def executeInMainThreadWithResult(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if threading.current_thread() is _main():
        raise RuntimeError(
            "fake hdefereval: executeInMainThreadWithResult on the main thread deadlocks Houdini"
        )
    reply = _Reply()
    _QUEUE.put((fn, args, kwargs, reply))
    reply.done.wait()
    if reply.error is not None:
        raise reply.error
    return reply.value


def process_events(timeout: float = 0.0) -> int:
    """Run queued calls on this (main) thread; wait up to ``timeout`` for the first. Returns how many ran."""
    ran = 0
    block = timeout > 0
    while True:
        try:
            fn, args, kwargs, reply = _QUEUE.get(block=block, timeout=timeout if block else None)
        except queue.Empty:
            return ran
        block = False
        ran += 1
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # handed back to the waiting thread, as hdefereval does
            if reply is None:
                raise
            reply.error = exc
        else:
            if reply is not None:
                reply.value = value
        if reply is not None:
            reply.done.set()
