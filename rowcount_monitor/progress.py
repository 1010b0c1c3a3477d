"""One progress line for work shared by several worker processes (the backfill's).

The parent opens a `Progress`; each worker process is handed its counter (`share`, a pool's
initializer) and calls `advance(n)` as it goes. A terminal sees one line rewritten in place
(done / total, rate, time left); a log file gets a line every LOG_EVERY seconds.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from typing import Any, TextIO

# How often the line is redrawn on a terminal, and written to a file or pipe (seconds).
REDRAW = 0.5
LOG_EVERY = 15.0

_counter: Any = None  # this process's view of the open Progress's counter


def share(counter: Any) -> None:
    """Make `counter` (a Progress's) the one `advance` adds to in this process."""
    global _counter
    _counter = counter


def advance(n: int) -> None:
    """Count `n` more units done; nothing when no Progress is open (a run from the UI)."""
    if _counter is not None:
        with _counter.get_lock():
            _counter.value += n


def duration(seconds: float) -> str:
    """'12 s', '3 min 05 s'."""
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Progress:
    """`with Progress("backfill", 24176, "buckets") as p:` then workers started with
    `initializer=share, initargs=(p.counter,)`."""

    def __init__(self, what: str, total: int, unit: str, stream: TextIO | None = None):
        self.what, self.total, self.unit = what, total, unit
        self.stream = stream or sys.stdout
        self.counter = multiprocessing.get_context("spawn").Value("q", 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._draw, daemon=True)
        self._t0 = 0.0

    def line(self, done: int, elapsed: float) -> str:
        share = done / self.total if self.total else 1.0
        text = f"{self.what}: {done:,} / {self.total:,} {self.unit} ({share:.0%})"
        if done and elapsed > 0:
            rate = done / elapsed
            text += f", {rate:,.0f} {self.unit}/s"
            if done < self.total:
                text += f", about {duration((self.total - done) / rate)} left"
        return text

    def _draw(self) -> None:
        tty = self.stream.isatty()
        last = 0.0
        while not self._stop.wait(REDRAW):
            now = time.perf_counter()
            if tty:
                self.stream.write("\r" + self.line(self.counter.value, now - self._t0).ljust(79))
                self.stream.flush()
            elif now - last >= LOG_EVERY:
                print(self.line(self.counter.value, now - self._t0), file=self.stream, flush=True)
                last = now

    def __enter__(self) -> Progress:
        self._t0 = time.perf_counter()
        share(self.counter)  # work done in this process counts too
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        share(None)
        if self.stream.isatty():
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()
