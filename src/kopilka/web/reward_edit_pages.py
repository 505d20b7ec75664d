"""The console's page of one reward (``/admin/rewards/{id}``): the new-reward form filled
with the reward, to change it, and its image, shown and uploaded. Marketers and admins
(``rewards:manage``, as ``PUT /v1/rewards/{id}`` and its image); both save through the
service the API uses, so its checks and its audit are the same, and a refusal writes
nothing and is shown next to its field."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kopilka.domain.errors import KopilkaError
from kopilka.services import rewards as rewards_svc
from kopilka.services.apikeys import Permission
from kopilka.services.rewards import SaveReward, SetImage
from kopilka.web.console import Console
from kopilka.web.guard import Operator
from kopilka.web.i18n import tr
from kopilka.web.render import Form, PathId, WebRoute, redirect, status_of
from kopilka.web.reward_form import FORM_FIELDS, KINDS, bad_field, form_of, reward_from_form
from kopilka.web.rewards_pages import kind_word, name_of
from kopilka.web.uploads import UploadForm

Done = Annotated[str, Query(max_length=16)]


def reward_edit_router(console: Console) -> APIRouter:
    """``/admin/rewards/{id}`` (change), ``/admin/rewards/{id}/image`` (show, upload)."""
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def manager(request: Request) -> Operator:
        op = console.operator(request)
        op.require(Permission.REWARDS_MANAGE)
        return op

    def page(
        op: Operator,
        reward_id: int,
        status: int = 200,
        error: KopilkaError | None = None,
        form: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        reward = rewards_svc.reward(ctx, op.program, reward_id)
        fields = form_of(reward, op.program) if form is None else form
        return console.page(
            op,
            "admin_reward.html",
            status,
            reward=reward,
            title=name_of(reward["name"]),
            kind_word=kind_word(reward["kind"]),
            kinds=KINDS,
            error=error,
            bad_field=bad_field(error),
            form={k: fields.get(k, "") for k in FORM_FIELDS},
            form_action=f"/admin/rewards/{reward_id}",
            editing=True,
            notice=notice,
            nav="rewards",
        )

    @router.get("/rewards/{reward_id:int}")
    def show(request: Request, reward_id: PathId, done: Done = "") -> Response:
        notices = {"saved": tr("Saved."), "image": tr("The image is saved.")}
        return page(manager(request), reward_id, notice=notices.get(done))

    @router.post("/rewards/{reward_id:int}")
    def save(request: Request, reward_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.REWARDS_MANAGE)
        current = rewards_svc.reward(ctx, op.program, reward_id)  # 404 for another program's
        try:
            reward = reward_from_form(form, op.program, current)
            rewards_svc.save_reward(ctx, op.program, SaveReward(reward, op.key.actor))
        except KopilkaError as e:
            return page(op, reward_id, status_of(e), e, dict(form))
        return redirect(f"/admin/rewards/{reward_id}?done=saved")

    @router.post("/rewards/{reward_id:int}/image")
    def upload(request: Request, reward_id: PathId, upload: UploadForm) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, upload.fields)
        op.require(Permission.REWARDS_MANAGE)
        data = upload.files.get("image", b"")
        try:
            rewards_svc.set_image(ctx, op.program, SetImage(reward_id, data, op.key.actor))
        except KopilkaError as e:
            return page(op, reward_id, status_of(e), e)
        return redirect(f"/admin/rewards/{reward_id}?done=image")

    @router.get("/rewards/{reward_id:int}/image")
    def image(request: Request, reward_id: PathId) -> Response:
        op = console.operator(request)
        op.require(Permission.REWARDS_READ)
        content_type, data, digest = rewards_svc.image(ctx, op.program, reward_id)
        return Response(
            data,
            media_type=content_type,
            headers={"ETag": f'"{digest}"', "X-Content-Type-Options": "nosniff"},
        )

    return router
