"""Messages a person may read, in English, that a page can still translate.

A service raises ``NotFoundError(msg("member %(id)s not found", id=member_id))``. The
message *is* its English text (a ``str``), so the API, the CLI, the logs and idempotency
records carry exactly what they always did; it also keeps its template and values, so the
web layer can look the template up in its gettext catalog and fill in the same values
(``kopilka.web.render.problem_text``). ``python -m kopilka.web.catalogs`` extracts every
``msg("...")`` of the domain, the ledger and the services into the catalogs.

The domain imports no web code and no gettext: the catalog lookup happens in the web layer.
"""

from __future__ import annotations

from typing import Any


class Message(str):
    """An English message (the ``str`` value) with the template and values it was made of."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, params: dict[str, Any]) -> Message:
        text = template % params  # a literal % is written %% (as gettext's python-format)
        self = super().__new__(cls, text)
        self.template = template
        self.params = params
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (e.g. between import processes) as a Message, not as a plain str
        return (Message, (self.template, self.params))


def msg(template: str, **params: Any) -> Message:
    """The message ``template % params`` in English, keeping both for translation.

    Placeholders are named, ``%(name)s``, so a translation may put them in any order."""
    return Message(template, params)
