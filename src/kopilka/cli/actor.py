"""Who acts on the command line: the name the audit log and the journal record.

The CLI's back-office writes (``points adjust``, ``member block``/``unblock``,
``expire``, ``activate``) go through the same audited services as the API and the
console (:mod:`kopilka.services.back_office`). The CLI has no API key to name its
caller, so it names them ``cli:<name>``: ``<name>`` is ``--actor`` when given (e.g. the
person or the cron job on whose behalf the command runs), otherwise the operating-system
user running the command.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from kopilka.domain.errors import ValidationError

MAX_ACTOR = 128  # the audit log's and the journal's column

Actor = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Who acts, for the audit log (recorded as cli:NAME; default: the "
        "operating-system user).",
    ),
]


def cli_actor(name: str | None) -> str:
    """``cli:<name>``, ``name`` defaulting to the operating-system user."""
    if name is None:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):  # no login name and no user database entry
            name = "unknown"
    name = name.strip()
    if not name or not name.isprintable():
        raise ValidationError("--actor must be a printable name", field="actor")
    return f"cli:{name}"[:MAX_ACTOR]
