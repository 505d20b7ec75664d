"""The console's reader of forms with a file (``multipart/form-data``, web/uploads.py),
by its contract, whatever parses the body: the fields and the file's exact bytes as a
browser or httpx sends them; a body that is not a well-formed multipart form is a 400
refusal, one over the bound a 413 before the parser reads it; another type has no fields."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from starlette.requests import Request
from starlette.types import Message

from kopilka.services import rewards as rewards_svc
from kopilka.web.render import Refused
from kopilka.web.uploads import MAX_FIELDS, MAX_UPLOAD_BYTES, Upload, upload_fields
from tests.e2e.web.test_reward_edit_pages import PNG, _coupon
from tests.e2e.web.world import hidden_fields


class _Body:
    """A request's body as the server receives it, in chunks, counting what was read."""

    def __init__(self, body: bytes, chunk: int = 64 * 1024) -> None:
        self.chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        self.read = 0

    async def receive(self) -> Message:
        self.read += 1
        more = self.read < len(self.chunks)
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": more}


def _read(body: _Body, headers: dict[str, str]) -> Upload:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "app": object(),  # inside an application, as the console's routes are
    }
    return asyncio.run(upload_fields(Request(scope, body.receive)))


def _encoded(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, dict[str, str]]:
    request = httpx.Request("POST", "http://x/", data=fields, files=files)
    return request.read(), {"content-type": request.headers["content-type"]}


def test_fields_and_the_files_bytes_come_out_as_sent() -> None:
    """Text fields (UTF-8) and a binary file holding line breaks and dashes, byte for byte,
    across chunks; a file input left empty is an empty file, not a field; the last of a
    field's name wins."""
    data = os.urandom(200_000) + b"\r\n--\r\n\r\n" + bytes(range(256))
    body, headers = _encoded(
        {"csrf_token": "t0k", "note": "Кружка"}, {"image": ("a b.png", data, "image/png")}
    )
    upload = _read(_Body(body, chunk=1000), headers)
    assert upload == Upload({"csrf_token": "t0k", "note": "Кружка"}, {"image": data})
    b = "XyZ"
    twice_and_empty = (
        f'--{b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n2\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="image"; filename=""\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n\r\n--{b}--\r\n"
    ).encode()
    headers = {"content-type": f"multipart/form-data; boundary={b}"}
    assert _read(_Body(twice_and_empty), headers) == Upload({"a": "2"}, {"image": b""})


MP = {"content-type": "multipart/form-data; boundary=b"}
FIELD = b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"--b\r\nno headers end\r\n--b--\r\n", MP),
        (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n", MP),
        (b"whatever", {"content-type": "multipart/form-data"}),
        (b"whatever", MP),
        (FIELD * (MAX_FIELDS + 1) + b"--b--\r\n", MP),
    ],
    ids=["no blank line", "no name", "no boundary", "not multipart", "too many fields"],
)
def test_a_malformed_body_is_refused(body: bytes, headers: dict[str, str]) -> None:
    """Each malformed form is a 400 refusal, never a half-read one."""
    with pytest.raises(Refused) as refused:
        _read(_Body(body), headers)
    assert refused.value.status == 400


def test_a_part_cut_off_is_left_out() -> None:
    """A body that ends inside a part (no closing delimiter) gives the parts before it,
    never the cut one's bytes: the image's service sees no file."""
    cut = FIELD + b'--b\r\nContent-Disposition: form-data; name=image; filename="a.png"\r\n\r\n'
    assert _read(_Body(cut + PNG), MP) == Upload({"f": "x"})


def test_another_type_has_no_fields() -> None:
    """A url-encoded (or JSON) body gives an empty form, so the CSRF check refuses it."""
    body = _Body(b"csrf_token=t0k")
    assert _read(body, {"content-type": "application/x-www-form-urlencoded"}) == Upload()
    assert body.read == 0


def test_a_body_over_the_bound_is_refused_before_it_is_parsed() -> None:
    """A body declared over the bound is refused (413) without a byte read; one sent in
    chunks without a length is refused once it passes the bound, its rest unread."""
    body, headers = _encoded({}, {"image": ("a.png", PNG + bytes(MAX_UPLOAD_BYTES), "image/png")})
    declared = _Body(body)
    with pytest.raises(Refused) as refused:
        _read(declared, {**headers, "content-length": str(len(body))})
    assert (refused.value.status, declared.read) == (413, 0)
    chunked = _Body(body + bytes(4 * MAX_UPLOAD_BYTES), chunk=64 * 1024)
    with pytest.raises(Refused) as refused:
        _read(chunked, headers)
    assert refused.value.status == 413
    assert chunked.read == MAX_UPLOAD_BYTES // (64 * 1024) + 1 < len(chunked.chunks)


def test_a_body_over_the_bound_is_a_413_page(world, as_role) -> None:
    """A file far over the image limit is a 413 page (the console's, below the API's own
    body limit) before the form is read; the reward keeps no image."""
    reward_id = _coupon(world)
    marketer = as_role("marketer")
    url = f"/admin/rewards/{reward_id}/image"
    csrf = hidden_fields(marketer.get(f"/admin/rewards/{reward_id}").text, url)
    big = PNG + bytes(MAX_UPLOAD_BYTES)
    assert len(big) < 1_000_000  # under the application's body limit: this page answers
    r = marketer.post(url, data=csrf, files={"image": ("big.png", big, "image/png")})
    assert r.status_code == 413
    assert "The file is too large." in r.text
    assert rewards_svc.reward(world.ctx, world.program, reward_id)["has_image"] is False
