"""Line splitting of streamed output: any chunking gives the same lines as splitting the whole text."""

from __future__ import annotations

import random
import re
import threading
import time

from farmhand.ssh.channel import LineSplitter


def _lines(chunks: list[bytes]) -> tuple[list[str], str]:
    got: list[str] = []
    sp = LineSplitter("out", lambda stream, line: got.append(line), None)
    for c in chunks:
        sp.feed(c)
    sp.feed(b"", final=True)
    return got, sp.text()


def test_every_chunking_matches_whole_text_split() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(["a", "b", "\r", "\n", "é", "✓"]) for _ in range(rng.randint(0, 30)))
        data = text.encode()
        cuts = sorted(rng.sample(range(len(data) + 1), k=min(len(data) + 1, rng.randint(0, 6))))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        expected = re.split(r"\r\n|\r|\n", text)
        if expected[-1] == "":
            expected.pop()
        assert _lines(chunks) == (expected, text), (text, cuts)


def test_progress_carriage_returns_and_crlf_across_chunks() -> None:
    assert _lines([b"10%\r20%", b"\r", b"\n30%\r\n", b"done"])[0] == ["10%", "20%", "30%", "done"]


def test_keep_limits_memory_but_lines_still_flow() -> None:
    got: list[str] = []
    sp = LineSplitter("err", lambda s, line: got.append(line), keep=100)
    for i in range(1000):
        sp.feed(f"line {i}\n".encode())
    sp.feed(b"", final=True)
    assert len(got) == 1000 and len(sp.text()) <= 200 and sp.text().endswith("line 999\n")


class _ClosedUnderneath:
    """A channel that another thread closes right after pump's checks and before its wait.

    Deterministic stand-in for the race a kill causes: the descriptor pump selects on is already closed.
    """

    def __init__(self) -> None:
        import os

        r, w = os.pipe()
        os.close(r)
        os.close(w)
        self._fd = r
        self._closed_reads = 0
        self.eof_received = False
        self.active = True
        self.lock = threading.Lock()

    @property
    def closed(self) -> bool:
        self._closed_reads += 1
        return self._closed_reads > 1  # open at the loop's check, closed by the time the error is judged

    def fileno(self) -> int:
        return self._fd

    def recv_ready(self) -> bool:
        return False

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return False

    def get_transport(self) -> None:
        return None


def test_pump_treats_a_channel_closed_by_another_thread_as_the_end() -> None:
    from farmhand.ssh.channel import pump

    out, err = LineSplitter("out", lambda s, x: None, 1024), LineSplitter("err", lambda s, x: None, 1024)
    assert pump(_ClosedUnderneath(), out, err) is True  # type: ignore[arg-type]


class _ClosingUnderLock(_ClosedUnderneath):
    """paramiko's own order: Channel.close() takes the lock, closes the descriptor, and only then marks
    the channel closed. Here another thread sits in that window while pump waits."""

    def __init__(self) -> None:
        super().__init__()
        self.is_closed = False
        self.in_window = threading.Event()
        threading.Thread(target=self._close, daemon=True).start()
        self.in_window.wait(5)

    def _close(self) -> None:
        with self.lock:
            self.in_window.set()  # the descriptor is already gone (see the parent)
            time.sleep(0.2)
            self.is_closed = True

    @property
    def closed(self) -> bool:
        return self.is_closed


def test_pump_waits_for_close_to_finish_before_judging_a_dead_descriptor() -> None:
    from farmhand.ssh.channel import pump

    out, err = LineSplitter("out", lambda s, x: None, 1024), LineSplitter("err", lambda s, x: None, 1024)
    assert pump(_ClosingUnderLock(), out, err) is True  # type: ignore[arg-type]
