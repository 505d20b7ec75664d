"""The console's page of one reward (/admin/rewards/{id}): the new-reward form filled with
the reward, saved through the service the API uses; a refused value is shown next to its
field and writes nothing; the image is shown and uploaded (PNG, JPEG or WebP of at most
512 KB, told by its bytes); marketers and admins only; both languages. On SQLite and
PostgreSQL (the ``world`` fixture runs on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy import func, select

from kopilka.domain.rewards import (
    MAX_IMAGE_BYTES,
    CouponKind,
    CouponTerms,
    Fulfilment,
    Limits,
    Period,
    Reward,
    RewardKind,
    Text,
    Validity,
)
from kopilka.services import rewards as rewards_svc
from kopilka.store.tables import audit_log
from tests.e2e.web.world import hidden_fields, text_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
RU = {"Accept-Language": "ru"}


class _FormValues(HTMLParser):
    """What a browser would send for the form posting to ``action``: its inputs (a
    checkbox when checked), each select's chosen option, its text areas."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside = action, False
        self.values: dict[str, str] = {}
        self.select: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside or ("name" not in a and tag != "option"):
            return
        if tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
            self.values[a["name"]] = a.get("value", "on")
        elif tag == "select":
            self.select, self.first_option = a["name"], None
        elif tag == "option" and self.select is not None:
            if self.first_option is None:
                self.first_option = a.get("value", "")
                self.values.setdefault(self.select, self.first_option)
            if "selected" in a:
                self.values[self.select] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = a["name"]
            self.values[self.textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.values[self.textarea] += data


def form_values(html: str, action: str) -> dict[str, str]:
    parser = _FormValues(action)
    parser.feed(html)
    assert parser.values, f"no form posting to {action}"
    return parser.values


def _coupon(world) -> int:
    """A coupon with every field the form shows, and some it does not (a fixed end of
    validity and an activation delay, set through the API)."""
    reward = Reward(
        0,
        0,
        "ten-off",
        RewardKind.COUPON,
        Text("Ten off", "Минус десять"),
        Text("On dairy", "На молочное"),
        50,
        coupon=CouponTerms(CouponKind.FIXED, 10_050, 50_000, ("dairy", "bread")),
        stock=7,
        limits=Limits(2, 1, Period.WEEK, 100),
        starts_at=datetime(2026, 3, 1, 6, 0, 30, tzinfo=UTC),
        ends_at=datetime(2026, 12, 31, 21, 0, tzinfo=UTC),
        validity=Validity(timedelta(hours=2), 30, datetime(2027, 6, 1, tzinfo=UTC)),
    )
    saved = rewards_svc.save_reward(world.ctx, world.program, rewards_svc.SaveReward(reward, "t"))
    return saved["id"]


def _gift(world) -> int:
    gift = Reward(
        0,
        0,
        "mug",
        RewardKind.GIFT,
        Text("Mug", "Кружка"),
        Text("", ""),
        100,
        fulfilment=Fulfilment.PICKUP,
    )
    return rewards_svc.save_reward(world.ctx, world.program, rewards_svc.SaveReward(gift, "t"))[
        "id"
    ]


def _audits(world) -> int:
    with world.ctx.uow(read_only=True) as uow:
        return int(
            uow.conn.execute(
                select(func.count()).where(
                    audit_log.c.program_id == world.program.id,
                    audit_log.c.action.in_(("reward.update", "reward.image")),
                )
            ).scalar_one()
        )


def test_the_page_is_the_form_filled_and_saving_it_unchanged_changes_nothing(world, as_role):
    """Every field of the reward is in the form; posting the form as shown stores the
    same reward (what the form does not show kept), and the catalog links to the page."""
    reward_id = _coupon(world)
    before = rewards_svc.reward(world.ctx, world.program, reward_id)
    marketer = as_role("marketer")
    catalog = marketer.get("/admin/rewards")
    assert f'href="/admin/rewards/{reward_id}"' in catalog.text
    page = marketer.get(f"/admin/rewards/{reward_id}")
    assert page.status_code == 200
    fields = form_values(page.text, f"/admin/rewards/{reward_id}")
    assert fields["coupon_amount"] == "100.50"
    assert fields["min_basket"] == "500.00"
    assert fields["categories"] == "dairy, bread"
    assert fields["starts_at"] == "2026-03-01T09:00:30"  # Moscow, the seconds kept
    assert fields["limit_period"] == "week"
    assert fields["active"] == "on"
    assert "stock" not in fields  # set on the catalog page, never by this form
    saved = marketer.post(f"/admin/rewards/{reward_id}", data=fields)
    assert saved.status_code == 303, text_of(saved.text)[:500]
    after = rewards_svc.reward(world.ctx, world.program, reward_id)
    assert after == before
    assert "Saved." in text_of(marketer.get(saved.headers["location"]).text)


def test_a_change_is_stored_and_audited(world, as_role):
    """A new price, name, limit and audience, and withdrawing the reward: stored as the
    API's PUT stores them (audited as the console's key), the stock and a gift's
    fulfilment kept."""
    gift_id = _gift(world)
    admin = as_role("admin")
    page = admin.get(f"/admin/rewards/{gift_id}")
    fields = form_values(page.text, f"/admin/rewards/{gift_id}")
    fields.pop("active")  # unchecked: withdrawn
    changed = {
        **fields,
        "points": "120",
        "name_en": "Big mug",
        "limit_per_member": "1",
        "audience_segments": "vip",
    }
    assert admin.post(f"/admin/rewards/{gift_id}", data=changed).status_code == 303
    after = rewards_svc.reward(world.ctx, world.program, gift_id)
    assert (after["points"], after["name"]["en"], after["active"]) == (120, "Big mug", False)
    assert after["limits"]["per_member"] == 1
    assert after["audience"]["segments"] == ["vip"]
    assert (after["fulfilment"], after["stock"]) == ("pickup", None)
    assert _audits(world) == 1


def test_a_refused_value_is_shown_next_to_its_field_and_writes_nothing(world, as_role):
    """A percent over 100 (the domain's check), a code another reward has (the service's)
    and a malformed date (the form's): each a page with the message beside its field,
    the reward unchanged, nothing audited; in Russian on a Russian page."""
    reward_id, other = _coupon(world), _gift(world)
    before = rewards_svc.reward(world.ctx, world.program, reward_id)
    marketer = as_role("marketer")
    url = f"/admin/rewards/{reward_id}"
    fields = form_values(marketer.get(url).text, url)
    cases = [
        ({"coupon_kind": "percent", "coupon_amount": "150"}, 422, "coupon_amount"),
        ({"code": "mug"}, 409, "code"),
        ({"starts_at": "soon"}, 422, "starts_at"),
    ]
    for bad, status, field in cases:
        r = marketer.post(url, data={**fields, **bad})
        assert r.status_code == status, (bad, text_of(r.text)[:300])
        assert f'id="r-err-{field}"' in r.text, bad
        assert f'aria-describedby="r-err-{field}"' in r.text, bad
        assert form_values(r.text, url)[next(iter(bad))] == next(iter(bad.values()))  # kept
    assert rewards_svc.reward(world.ctx, world.program, reward_id) == before
    assert rewards_svc.reward(world.ctx, world.program, other)["code"] == "mug"
    assert _audits(world) == 0
    ru = marketer.post(url, data={**fields, "starts_at": "soon"}, headers=RU)
    assert "Укажите дату и время" in text_of(ru.text)
    assert "Изменить награду" in text_of(ru.text)


def test_an_image_is_uploaded_shown_and_a_bad_one_refused(world, as_role):
    """A PNG is stored and shown on the page (and served to the console); a file that is
    not an image by its bytes, an empty one and one over 512 KB are refused beside the
    file field with nothing stored."""
    reward_id = _coupon(world)
    marketer = as_role("marketer")
    url = f"/admin/rewards/{reward_id}/image"
    page = marketer.get(f"/admin/rewards/{reward_id}")
    assert "No image yet." in text_of(page.text)
    assert 'enctype="multipart/form-data"' in page.text
    csrf = hidden_fields(page.text, url)
    refused = [
        (b"GIF89a" + b"\x00" * 10, "must be a PNG, JPEG or WebP"),
        (b"", "empty"),
        (PNG + b"\x00" * MAX_IMAGE_BYTES, "larger than 512 KB"),
    ]
    for data, words in refused:
        r = marketer.post(url, data=csrf, files={"image": ("photo.png", data, "image/png")})
        assert r.status_code == 422, words
        assert words in text_of(r.text), words
        assert 'id="r-err-image"' in r.text
    assert rewards_svc.reward(world.ctx, world.program, reward_id)["has_image"] is False
    assert _audits(world) == 0

    done = marketer.post(url, data=csrf, files={"image": ("photo.bin", PNG, "text/plain")})
    assert done.status_code == 303
    page = marketer.get(done.headers["location"])
    assert "The image is saved." in text_of(page.text)
    assert f'src="/admin/rewards/{reward_id}/image"' in page.text
    shown = marketer.get(url)
    assert (shown.status_code, shown.headers["content-type"]) == (200, "image/png")
    assert shown.content == PNG
    ru = marketer.post(url, data=csrf, files={"image": ("x.png", b"text", "image/png")}, headers=RU)
    assert "PNG, JPEG или WebP" in text_of(ru.text)


def test_an_upload_without_the_forms_token_is_refused(world, as_role):
    """The image form is protected as every console form: no CSRF token, no upload."""
    reward_id = _coupon(world)
    marketer = as_role("marketer")
    r = marketer.post(
        f"/admin/rewards/{reward_id}/image", files={"image": ("a.png", PNG, "image/png")}
    )
    assert r.status_code == 403
    assert rewards_svc.reward(world.ctx, world.program, reward_id)["has_image"] is False


def test_support_and_analysts_may_not_open_or_post_it(world, as_role):
    """A support key (rewards:read, no rewards:manage) is refused the page, the save and
    the upload, with nothing written; an analyst sees no link from the catalog."""
    reward_id = _coupon(world)
    before = rewards_svc.reward(world.ctx, world.program, reward_id)
    support = as_role("support")
    assert support.get(f"/admin/rewards/{reward_id}").status_code == 403
    csrf = hidden_fields(support.get("/admin/rewards/issued").text, "/admin/sign-out")
    save = support.post(f"/admin/rewards/{reward_id}", data={**csrf, "code": "x", "points": "1"})
    assert save.status_code == 403
    upload = support.post(
        f"/admin/rewards/{reward_id}/image",
        data=csrf,
        files={"image": ("a.png", PNG, "image/png")},
    )
    assert upload.status_code == 403
    assert rewards_svc.reward(world.ctx, world.program, reward_id) == before
    assert _audits(world) == 0
    analyst = as_role("analyst")
    assert f'href="/admin/rewards/{reward_id}"' not in analyst.get("/admin/rewards").text


def test_another_programs_reward_or_none_is_not_found(world, as_role):
    """An id that is no reward of the program is a 404 page, for the page and the save."""
    marketer = as_role("marketer")
    assert marketer.get("/admin/rewards/999999").status_code == 404
    csrf = hidden_fields(marketer.get("/admin/rewards").text, "/admin/rewards")
    assert marketer.post("/admin/rewards/999999", data=csrf).status_code == 404
    assert marketer.get("/admin/rewards/999999/image").status_code == 404
