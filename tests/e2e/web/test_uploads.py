"""The console's reader of forms with a file (``multipart/form-data``, web/uploads.py):
the fields and the file's exact bytes as a browser or httpx sends them; a body that is
not a well-formed multipart form is a 400 refusal, one over the bound a 413 unread."""

from __future__ import annotations

import os

import httpx
import pytest

from kopilka.services import rewards as rewards_svc
from kopilka.web.render import Refused
from kopilka.web.uploads import MAX_UPLOAD_BYTES, parse_multipart
from tests.e2e.web.test_reward_edit_pages import PNG, _coupon
from tests.e2e.web.world import hidden_fields


def _encoded(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def test_fields_and_the_files_bytes_come_out_as_sent() -> None:
    """Text fields (UTF-8) and a binary file holding line breaks and dashes, byte for byte;
    a file input left empty is an empty file, not a field."""
    data = os.urandom(2048) + b"\r\n--\r\n\r\n" + bytes(range(256))
    body, content_type = _encoded(
        {"csrf_token": "t0k", "note": "Кружка"}, {"image": ("a b.png", data, "image/png")}
    )
    upload = parse_multipart(body, content_type)
    assert upload.fields == {"csrf_token": "t0k", "note": "Кружка"}
    assert upload.files == {"image": data}
    boundary = "XyZ"
    empty = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename=""\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n\r\n--{boundary}--\r\n"
    ).encode()
    assert parse_multipart(empty, f"multipart/form-data; boundary={boundary}").files == {
        "image": b""
    }


MP = "multipart/form-data; boundary=b"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n",
            "multipart/form-data; boundary=b",
        ),
        (b"--b\r\nno headers end\r\n--b--\r\n", MP),
        (
            b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (b"whatever", "multipart/form-data"),
    ],
    ids=["no closing delimiter", "no blank line", "no name", "not UTF-8", "no boundary"],
)
def test_a_malformed_body_is_refused(body: bytes, content_type: str) -> None:
    """Each malformed form is a 400 refusal, never a half-read one."""
    with pytest.raises(Refused) as refused:
        parse_multipart(body, content_type)
    assert refused.value.status == 400


def test_a_body_over_the_bound_is_refused_unread(world, as_role) -> None:
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
