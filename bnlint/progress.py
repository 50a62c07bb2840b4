"""A one-line progress indicator on stderr for long runs in a terminal."""

from __future__ import annotations

import time
from typing import TextIO

# Runs shorter than this many files finish before a progress line would help.
MIN_FILES = 200


class Progress:
    """``bnlint: 523/1840 files`` rewritten in place, at most ten times a second, erased at the end."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        self._shown = True
        self.stream.write(f"\rbnlint: {done}/{self.total} files")
        self.stream.flush()

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def progress_for(stream: TextIO, total: int) -> Progress | None:
    """A progress indicator when ``stream`` is a terminal and the run is long enough."""
    isatty = getattr(stream, "isatty", None)
    if total < MIN_FILES or not (isatty and isatty()):
        return None
    return Progress(stream, total)
