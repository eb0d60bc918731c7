"""Houdini's main thread: every ``hou`` call happens there, slow work happens elsewhere.

Houdini's ``hdefereval`` moves a call from a worker thread onto the main thread (it exists only in a
graphical session). Calling ``executeInMainThreadWithResult`` *from* the main thread deadlocks Houdini,
so :func:`call_in_main` runs the call directly there. Without a UI (hython) there is no event loop to
post to: work runs in the calling thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _hdefereval() -> Any:
    try:
        import hdefereval
    except ImportError:  # hython: no UI event loop
        return None
    return hdefereval


def call_in_main(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the main thread and return its result (blocks a worker thread until done)."""
    module = _hdefereval()
    if in_main_thread() or module is None:
        return fn(*args)
    result: T = module.executeInMainThreadWithResult(fn, *args)
    return result


def post_to_main(fn: Callable[..., None], *args: Any) -> None:
    """Queue ``fn(*args)`` for the main thread and return at once."""
    module = _hdefereval()
    if module is None:
        fn(*args)
    else:
        module.executeDeferred(fn, *args)


def run_in_background(
    work: Callable[[], T],
    on_done: Callable[[Optional[T], Optional[BaseException]], None],
    name: str = "farmhand",
) -> threading.Thread:
    """Run ``work`` in a daemon thread; ``on_done(result, error)`` then runs on the main thread.

    ``work`` must not touch ``hou`` (use :func:`call_in_main` inside it if it has to).
    """

    def body() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to on_done, which reports it in the UI
            log.debug("background %s failed", name, exc_info=True)
            post_to_main(on_done, None, exc)
        else:
            post_to_main(on_done, result, None)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread
