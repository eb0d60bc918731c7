"""Fan one operation out to many nodes: each host maps to its result or to the exception it raised."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Generic, TypeVar, Union

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


def fan_out(hosts: Sequence[str], fn: Callable[[str], T], *, workers: int = 32) -> FanOut[T]:
    """Call ``fn(host)`` for every host in parallel threads (at most ``workers`` at once)."""
    unique = list(dict.fromkeys(hosts))
    results: dict[str, Union[T, BaseException]] = {}
    if not unique:
        return FanOut(results)
    size = max(1, min(workers, len(unique)))
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="fanout") as pool:
        futures = {h: pool.submit(fn, h) for h in unique}
        for host, fut in futures.items():
            try:
                results[host] = fut.result()
            except Exception as exc:
                results[host] = exc
    return FanOut(results)
