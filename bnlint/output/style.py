"""ANSI colour for terminal output, following the NO_COLOR and FORCE_COLOR conventions."""

from __future__ import annotations

import os
from typing import TextIO

_CODES = {"bold": "1", "red": "31", "yellow": "33", "cyan": "36", "dim": "2"}


def wants_color(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """Colour when writing to a terminal; ``FORCE_COLOR`` forces it, ``NO_COLOR`` turns it off."""
    env = os.environ if environ is None else environ
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if env.get("NO_COLOR", ""):
        return False
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, *styles: str, enabled: bool) -> str:
    """``text`` wrapped in the ANSI codes of ``styles`` when ``enabled``."""
    if not enabled or not styles:
        return text
    return f"\033[{';'.join(_CODES[s] for s in styles)}m{text}\033[0m"
