"""Fan one operation out to many nodes: each host maps to its result or to the exception it raised.

:func:`pool_size` says how many threads may do blocking SSH work at once, so pools grow with the farm
instead of a fixed cap: one per node, bounded by what this process can hold connections for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Generic, Optional, TypeVar, Union

T = TypeVar("T")


class FanOut(Mapping[str, Union[T, BaseException]], Generic[T]):
    """host → result or exception, in the order the hosts were given."""

    def __init__(self, items: dict[str, Union[T, BaseException]]) -> None:
        self._items = items

    def __getitem__(self, host: str) -> Union[T, BaseException]:
        return self._items[host]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def succeeded(self) -> dict[str, T]:
        return {h: v for h, v in self._items.items() if not isinstance(v, BaseException)}

    @property
    def failed(self) -> dict[str, BaseException]:
        return {h: v for h, v in self._items.items() if isinstance(v, BaseException)}


#: Most threads one process gives to SSH work, whatever the limits allow.
MAX_POOL = 1024


def pool_size(hosts: Optional[int] = None) -> int:
    """Threads for blocking SSH work: one per host when ``hosts`` is given, never more than this process
    can hold connections for (a quarter of its open-file limit: a connection is a socket, and a streamed
    channel two pipe descriptors more), at most :data:`MAX_POOL`.

    ``ThreadPoolExecutor`` starts a thread only when work arrives and none is idle, so
    ``ThreadPoolExecutor(max_workers=pool_size())`` is a pool that grows with the farm and costs nothing
    while it is small."""
    ceiling = MAX_POOL
    try:
        import resource
    except ImportError:  # Windows: no descriptor limit to read
        resource = None  # type: ignore[assignment]
    if resource is not None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            ceiling = min(ceiling, max(8, soft // 4))
    return ceiling if hosts is None else max(1, min(hosts, ceiling))


def fan_out(hosts: Sequence[str], fn: Callable[[str], T], *, workers: Optional[int] = None) -> FanOut[T]:
    """Call ``fn(host)`` for every host in parallel threads: all at once by default (see
    :func:`pool_size`), or at most ``workers`` at once."""
    unique = list(dict.fromkeys(hosts))
    results: dict[str, Union[T, BaseException]] = {}
    if not unique:
        return FanOut(results)
    size = pool_size(len(unique)) if workers is None else max(1, min(workers, len(unique)))
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="fanout") as pool:
        futures = {h: pool.submit(fn, h) for h in unique}
        for host, fut in futures.items():
            try:
                results[host] = fut.result()
            except Exception as exc:
                results[host] = exc
    return FanOut(results)
