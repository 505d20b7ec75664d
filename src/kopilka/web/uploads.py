"""Forms that carry a file (``multipart/form-data``), read at the edge: the console's
reward image. Parsed by Starlette's ``Request.form()`` (python-multipart underneath, the
ecosystem's parser), with the whole body bounded here before the parser reads it.

What comes out is the form's text fields (for the CSRF check and the rest) and its files
as bytes; what a file must be (its type, its size) is the service's to check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from kopilka.domain.rewards import MAX_IMAGE_BYTES
from kopilka.web.i18n import _
from kopilka.web.render import Refused

# the largest image and room to spare: a file a little too large reaches the service,
# which says what the limit is next to the form's file field; a body larger than this is
# refused unread (below the API application's own body limit, 1,000,000 bytes by default,
# so the console answers it with a page)
MAX_UPLOAD_BYTES = MAX_IMAGE_BYTES + 256 * 1024
# the console's forms have a few fields and one file: more of either is not one of them
MAX_FIELDS = 20
MAX_FILES = 4
# a text field (a token, a note); a file's size is bounded by the body's
MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A form with files: its text fields (the last of a name wins, as in
    :func:`kopilka.web.render.form_fields`) and its files' contents by field name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def _unreadable() -> Refused:
    return Refused(400, _("The form could not be read."))


def _too_large() -> Refused:
    return Refused(413, _("The file is too large."))


def _bounded(request: Request) -> Request:
    """The request with a body that is refused (413) once it passes
    :data:`MAX_UPLOAD_BYTES`, whatever its ``Content-Length`` says (or if it has none):
    the parser never reads more than the bound."""
    receive = request.receive
    received = 0

    async def bounded_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > MAX_UPLOAD_BYTES:
                raise _too_large()
        return message

    return Request(request.scope, bounded_receive)


async def upload_fields(request: Request) -> Upload:
    """The form of a ``multipart/form-data`` request: a body over :data:`MAX_UPLOAD_BYTES`
    is refused (413) before it is parsed, one that declares so unread; a body that is not a
    well-formed multipart form is refused (400), and a part cut off before its closing
    delimiter is left out, never half-read; one of another type has no fields (as
    :func:`kopilka.web.render.form_fields` answers), so its CSRF check fails."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return Upload()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise _too_large()
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    try:
        async with _bounded(request).form(
            max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
        ) as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[name] = await value.read()
                else:
                    fields[name] = value
    except MultiPartException:  # a malformed form or too many parts, outside an application
        raise _unreadable() from None
    except HTTPException as e:  # the same, as Starlette raises it inside one
        if e.status_code == 400:
            raise _unreadable() from None
        raise
    return Upload(fields, files)


UploadForm = Annotated[Upload, Depends(upload_fields)]
"""The console's reader of forms with a file (``multipart/form-data``, web/uploads.py):
the fields and the file's exact bytes as a browser or httpx sends them; a body that is
not a well-formed multipart form is a 400 refusal, one over the bound a 413 unread."""
