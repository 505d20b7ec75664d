"""Forms that carry a file (``multipart/form-data``), read at the edge: the console's
reward image. Read here, with the standard library, rather than by a multipart package:
a form of a few fields and one file, the whole body bounded before it is read.

What comes out is the form's text fields (for the CSRF check and the rest) and its files
as bytes; what a file must be (its type, its size) is the service's to check."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Annotated

from fastapi import Depends, Request

from kopilka.domain.rewards import MAX_IMAGE_BYTES
from kopilka.web.i18n import _
from kopilka.web.render import Refused

# the largest image and room to spare: a file a little too large reaches the service,
# which says what the limit is next to the form's file field; a body larger than this is
# refused unread (below the API application's own body limit, 1,000,000 bytes by default,
# so the console answers it with a page)
MAX_UPLOAD_BYTES = MAX_IMAGE_BYTES + 256 * 1024
MAX_PARTS = 20


@dataclass(frozen=True, slots=True)
class Upload:
    """A form with files: its text fields (the last of a name wins, as in
    :func:`kopilka.web.render.form_fields`) and its files' contents by field name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def _unreadable() -> Refused:
    return Refused(400, _("The form could not be read."))


def _param(value: str, header: str, name: str) -> str | None:
    """A parameter of a header's value (``boundary``, ``name``, ``filename``), quoting and
    encoding as e-mail and HTTP write them."""
    message = Message()
    message[header] = value
    found = message.get_param(name, header=header)
    if isinstance(found, tuple):  # RFC 2231: (charset, language, value)
        return found[2]
    return found if isinstance(found, str) else None


def parse_multipart(body: bytes, content_type: str) -> Upload:
    """The parts of a ``multipart/form-data`` body (RFC 7578); a body that is not one is
    refused (400)."""
    boundary = _param(content_type, "content-type", "boundary")
    if not boundary or len(boundary) > 70:
        raise _unreadable()
    delimiter = b"\r\n--" + boundary.encode("latin-1", "replace")
    # the body opens with the delimiter (no line before it); the closing one ends in "--"
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--") or len(chunks) > MAX_PARTS + 2:
        raise _unreadable()
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for chunk in chunks[1:-1]:
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise _unreadable()
        # the rest of the delimiter's line (transport padding), then the part's headers
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n")[1:]:
            header, colon, value = line.partition(b":")
            if not colon:
                raise _unreadable()
            headers[header.strip().lower().decode("latin-1")] = value.strip().decode(
                "utf-8", "replace"
            )
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "content-disposition", "name")
        if not disposition.lower().startswith("form-data") or not name:
            raise _unreadable()
        if _param(disposition, "content-disposition", "filename") is not None:
            files[name] = content
            continue
        try:
            fields[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            raise _unreadable() from None
    return Upload(fields, files)


def _too_large() -> Refused:
    return Refused(413, _("The file is too large."))


async def upload_fields(request: Request) -> Upload:
    """The form of a ``multipart/form-data`` request: a body over :data:`MAX_UPLOAD_BYTES`
    is refused (413) as it arrives, unread; one of another type has no fields (as
    :func:`kopilka.web.render.form_fields` answers), so its CSRF check fails."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return Upload()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise _too_large()
    return parse_multipart(bytes(body), content_type)


UploadForm = Annotated[Upload, Depends(upload_fields)]
