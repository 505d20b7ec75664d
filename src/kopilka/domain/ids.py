"""The one grammar of the ids a caller chooses: receipts, returns, lines, events, stores.

An id is 1 to 64 ASCII letters, digits, ``_``, ``.`` or ``-``, starting with a letter or
a digit. Each such id can be written in a URL path as it is (no ``/``, no space, nothing
to escape), so an id a body accepts is always addressable afterwards, and it fits every
column that stores it. No ``:`` either: Kopilka's own idempotency keys join ids with it
(``return:<receipt id>:<return id>``), and with a colon inside an id two different
returns could share one key (receipt ``A:B`` return ``C`` against receipt ``A`` return
``B:C``).
"""

from __future__ import annotations

import re
from typing import Final

from kopilka.domain.errors import ValidationError

MAX_ID_CHARS: Final = 64
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID_RULE: Final = "1-64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
_ID = re.compile(ID_PATTERN)


def is_id(value: object) -> bool:
    """Whether ``value`` is a string in the id grammar (matched in full, so a trailing
    newline is refused too)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, field: str) -> str:
    """``value`` when it is an id of the grammar, else :class:`ValidationError` on ``field``."""
    if not is_id(value):
        raise ValidationError(f"{field} must be {ID_RULE}", field=field)
    assert isinstance(value, str)
    return value
