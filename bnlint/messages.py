"""How findings quote the code they are about.

A message names the call it is about as the user wrote it (``bn(x, training=True)``),
cut to one readable width so a long argument list does not push the point off
the line. One definition, so every rule cuts the same way.
"""

from __future__ import annotations

# Most messages quote code in at most this many characters, the cut marked by ``...``.
QUOTE_WIDTH = 50


def shortened(text: str, width: int = QUOTE_WIDTH) -> str:
    """``text`` if it fits in ``width`` characters, else its start and ``...``, ``width`` in all."""
    return text if len(text) <= width else text[:width - 3] + "..."
