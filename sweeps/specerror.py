"""How a sweep file is refused: ``SpecError`` and what every validator of one shares.

``sweeps.spec`` validates a sweep file one section at a time and asks ``sweeps.design`` (the
``design:`` section) and ``sweeps.adaptive`` (adaptive ``seeds:``) about theirs; all of them
refuse with a ``SpecError`` that quotes the user's value through ``show``.  These live here,
below all of those modules, so that spec can import its validators and they need nothing of
spec (issue 27: no import circles).  ``sweeps.spec`` imports them too: ``from sweeps.spec
import SpecError`` keeps working.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable

# Seeds go to torch.manual_seed and numpy's RandomState (which takes < 2**32).
MAX_SEED = 2**32 - 1
MAX_SHOWN = 80  # characters of a user's value echoed in an error message
MAX_MESSAGE = 1000  # characters of a whole error message


def show(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)``, cut to ``limit`` characters: error messages echo what the user wrote,
    and what the user wrote may be a megabyte."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def nearest(value: Any, allowed: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the allowed name closest to a mistyped ``value``
    (difflib's ratio, at least 0.75: ``latnet_dim`` -> latent_dim), else ""."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _short(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[:limit - 15] + "... (truncated)"


class SpecError(ValueError):
    """An invalid sweep file; the message is one line naming file, field and allowed values."""

    def __init__(self, message: str) -> None:
        # One line whatever a user-written key or value holds (a YAML key may contain "\n").
        # A message is also bounded in length, whatever it quotes.
        super().__init__(_short(str(message).replace("\r", "\\r").replace("\n", "\\n")))
