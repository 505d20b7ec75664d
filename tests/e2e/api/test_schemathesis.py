"""Property-based contract test: generated requests against /openapi.json find no server
error and no response that breaks the documented schema.

Every operation gets positive (valid) and negative (invalid) generated requests,
authenticated with an admin key; path values are pinned to a real member, hold, receipt
and rule-set version for positive requests so the handlers run past the lookups.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.generation import GenerationMode
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy import event as db_event

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.domain.basket import MAX_RECEIPT_AMOUNT
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc
from kopilka.services import purchases as purchase_svc
from kopilka.services.points import Earn, PlaceHold
from kopilka.store.db import READ_ONLY
from kopilka.store.tables import members
from tests import commands
from tests.e2e.api.conftest import KeyFactory, row_counts
from tests.e2e.api.factories import RULES, basket, line, publish_rules

# raise it for a deeper run: KOPILKA_CONTRACT_EXAMPLES=200 pytest -k contract
EXAMPLES = int(os.environ.get("KOPILKA_CONTRACT_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.heavy(70)
def test_api_contract(
    kopilka: Kopilka, program: Program, key_for: KeyFactory, make_member: Any
) -> None:
    """No generated request, valid or not, makes a 5xx or a response outside the schema."""
    headers = key_for("admin")
    member_id = make_member(program)
    points_svc.earn(kopilka.services, program, Earn(member_id, 10_000, key="contract-seed"))
    hold = points_svc.hold(kopilka.services, program, PlaceHold(member_id, 10, key="contract-hold"))
    version = publish_rules(kopilka.services, program)
    receipt = basket(line("1", "300.00", quantity="5"), member_id=member_id, receipt_id="R-1")
    purchase_svc.commit(
        kopilka.services, program, commands.purchase(kopilka.services, program, receipt)
    )
    pinned = {
        "member_id": member_id,
        "hold_id": hold["hold_id"],
        "receipt_id": "R-1",
        "version": version,
    }
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(kopilka))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        names = set(re.findall(r"{(\w+)}", operation.path))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            path = {k: v for k, v in pinned.items() if k in names}
            strategy = operation.as_strategy(
                mode, path_parameters=path if mode.is_positive and path else None
            )

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                # nothing in this operation can be made invalid (e.g. GET /healthz)
                assert not mode.is_positive, operation.label
            except Exception as e:
                e.add_note(f"operation: {operation.label} ({mode})")
                raise


# Every check schemathesis has (`--checks all`) in every phase of its engine (examples,
# coverage, fuzzing, stateful), as `schemathesis run --checks all` runs them, against the
# in-process app: no 5xx, every response as documented, no request the schema allows
# refused (positive_data_acceptance: 2xx, 401, 403, 404, 409) and none it forbids accepted
# (negative_data_rejection). Bounded to stay near a minute; raise it for a deeper run.
ALL_EXAMPLES = int(os.environ.get("KOPILKA_CONTRACT_ALL_EXAMPLES", "10"))
_REFUSED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429"]
# an instant the server takes as "now" at the latest
_INSTANTS = ("occurred_at", "as_of")


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[Any, int]]:
    yield value, depth
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, depth + 1
            yield from _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, depth + 1)


def beyond_the_schema(body: Any, now: datetime) -> str | None:
    """Why a request the schema allows may still be refused (422), or None. These are the
    only rules the schema cannot state (each is documented where its field is):

    - an instant later than the server's clock (``occurred_at``, a sweep's ``as_of``);
    - two lines of a basket with one ``line_id``, or lines totalling the receipt maximum;
    - ``attributes`` nested deeper than 5 levels or holding a NUL character;
    - a rules document's content (the test sends a valid document instead);
    - promo codes the rules in force do not define (these rules define none), coupon
      codes no reward issued, payments
      that do not add up to what is due, an order discount above the lines' total.
    - ``backdate`` without an ``effective_at`` in the past.
    """
    if not isinstance(body, dict):
        return None
    if body.get("backdate") is True:
        at = body.get("effective_at")
        if not isinstance(at, str) or datetime.fromisoformat(at) >= now:
            return "backdate without an effective_at in the past"
    # attributes come at the top (events), in a preview's purchase or event, and in a
    # member's profile (enrolment and PATCH)
    nested = ("purchase", "event", "profile")
    baskets = [body, *(body[k] for k in nested if isinstance(body.get(k), dict))]
    for b in baskets:
        for name in _INSTANTS:
            at = b.get(name)
            if isinstance(at, str) and datetime.fromisoformat(at) > now:
                return f"{name} in the future"
        lines = b.get("lines")
        if isinstance(lines, list) and lines and all(isinstance(x, dict) for x in lines):
            ids = [x.get("line_id") for x in lines]
            if len(set(ids)) < len(ids):
                return "duplicate line ids"
            total = sum(Decimal(str(x.get("amount", 0))) for x in lines)
            if total >= MAX_RECEIPT_AMOUNT:
                return "receipt total beyond the maximum"
            discount = b.get("order_discount")
            if discount is not None and Decimal(str(discount)) > total:
                return "order discount above the lines' total"
        if b.get("promo_codes"):
            return "promo codes the rules do not define"
        if b.get("coupons"):
            return "coupon codes nobody was issued"
        if b.get("payments"):
            return "payments that may not add up to what is due"
        attributes = b.get("attributes")
        if isinstance(attributes, dict):
            for v, depth in _walk(attributes):
                if depth > 5 or (isinstance(v, str) and "\x00" in v):
                    return "attributes too deep or with NUL"
    return None


def manual_tier_refusal(body: Any, now: datetime) -> str | None:
    """Why a manual tier the schema allows may still be refused (422): a tier the
    program's rules do not define (this program's define none), an end in the past, or
    the reason ``other`` without a note (each is documented on the route)."""
    if not isinstance(body, dict) or "reason_code" not in body:
        return None
    if body.get("tier_code") is not None:
        return "a tier the rules do not define"
    until = body.get("until")
    if isinstance(until, str) and datetime.fromisoformat(until) <= now:
        return "a manual tier ending in the past"
    if body.get("reason_code") == "other" and not (body.get("reason_note") or "").strip():
        return "the reason other without a note"
    return None


def membership_refusal(body: Any) -> str | None:
    """Why a paid-membership sale the schema allows may still be refused (422): a plan the
    program's rules do not sell (this program's sell none), a currency not the program's,
    or an amount with more decimals than it has (docs/memberships.md)."""
    if not isinstance(body, dict) or "receipt_id" not in body:
        return None
    if "plan" in body:
        return "a plan the rules do not sell"
    if body.get("currency") not in (None, "RUB"):
        return "a currency not the program's"
    return None


def reward_refusal(case: Any) -> str | None:
    """Why a catalog write the schema allows may still be refused (422; docs/rewards.md):
    a tier the program's rules do not define (this program's define none, and a dict's keys
    have no pattern in JSON Schema), a kind without its terms or with another kind's, one
    of ``stock``, ``add`` and ``unlimited`` rather than exactly one, codes for a reward
    that has no pool or that are not partner codes, an end before the start."""
    path = case.operation.path
    if case.operation.method.upper() in ("POST", "PUT") and path.startswith("/v1/rewards"):
        return "the rewards catalog's rules beyond the schema"
    return None


def webhook_refusal(case: Any) -> str | None:
    """Why a webhook write the schema allows may still be refused (422; docs/events.md):
    a URL whose host does not resolve or resolves into a private or loopback network
    (the generated hosts are random names), or a redelivery with both or neither of
    ``event_id`` and ``since``."""
    path = case.operation.path
    if case.operation.method.upper() in ("POST", "PATCH") and path.startswith("/v1/webhooks"):
        return "where a webhook's host resolves, and one of event_id or since"
    return None


def template_refusal(case: Any) -> str | None:
    """Why a message template the schema allows may still be refused (422;
    docs/notifications.md): whether it renders with its topic's sample values (Jinja2's
    syntax, the topic's variables, a marketing topic's unsubscribe link)."""
    path = case.operation.path
    if case.operation.method.upper() in ("PUT", "POST") and path.startswith(
        "/v1/notifications/templates"
    ):
        return "whether a message template renders"
    return None


def offer_and_analytics_refusal(case: Any) -> str | None:
    """Why an offer's audience upload or an analytics range the schema allows may still be
    refused (422; docs/rules.md, docs/analytics.md): an upload naming nobody without
    ``replace``, or an offer the rules in force do not have (these rules have none); a
    range ending before it starts or longer than the longest allowed."""
    path = case.operation.path
    if path.startswith("/v1/offers/") and path.endswith("/audience"):
        return "an empty upload, or an offer the rules do not have"
    if path.startswith("/v1/analytics/") and case.operation.method.upper() == "GET":
        return "a range ending before it starts, or too long"
    return None


def _written(engine: Any) -> dict[str, int]:
    """Rows per table, the idempotency records aside (a refusal keeps its own)."""
    return {k: v for k, v in row_counts(engine).items() if k != "idempotency_keys"}


# what a statement that reads and writes nothing starts with
_READS = ("SELECT", "SHOW", "PRAGMA")


class Written:
    """Rows per table (:func:`_written`), counted again only when something may have
    changed a count since they were last counted: a transaction committed on the engine
    by a unit of work that may write, or any statement but a read, on any connection (a
    read-only unit of work that writes after all). A request that did neither, as most
    refusals (a body the schema forbids never reaches the database), leaves the last
    counts true, so they are not counted again: counting every table before each of
    thousands of calls and after each refusal was half of the test's time. Writes the
    engine does not see (the bulk importers' driver-level COPY) happen inside a unit of
    work that may write, whose commit it sees."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dirty = True
        self.counts: dict[str, int] = {}
        self.counted = 0  # how many times the tables were counted (what this saves)

    def __enter__(self) -> Written:
        db_event.listen(self.engine, "commit", self._committed)
        db_event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *exc: object) -> None:
        db_event.remove(self.engine, "commit", self._committed)
        db_event.remove(self.engine, "before_cursor_execute", self._statement)

    def _committed(self, conn: Connection) -> None:
        if not conn.get_execution_options().get(READ_ONLY):
            self.dirty = True

    def _statement(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(_READS):
            self.dirty = True

    def now(self) -> dict[str, int]:
        """The rows per table now."""
        if self.dirty:
            self.dirty = False  # first: a write while counting leaves it dirty again
            self.counts = _written(self.engine)
            self.counted += 1
        return self.counts


def test_written_counts_again_after_any_write(
    kopilka: Kopilka, program: Program, make_member: Any
) -> None:
    """The contract test's write check sees every kind of write: after reads the counts
    are not taken again, after an enrolment through the services (a committed unit of
    work) or a statement that writes on a read-only connection they are, and the new
    counts show the rows written."""
    engine = kopilka.services.engine
    with Written(engine) as written:
        first = written.now()
        assert written.now() is first  # nothing happened: the last counts still hold
        member_id = make_member(program)
        after_enrolment = written.now()
        assert written.counted == 2
        assert after_enrolment["members"] == first["members"] + 1
        member_svc.get_member(kopilka.services, program, member_id)  # reads only
        with kopilka.services.uow(read_only=True) as uow:
            uow.conn.execute(select(func.count()).select_from(members))
        assert written.now() is after_enrolment
        with kopilka.services.uow(read_only=True) as uow:  # a write where none is expected
            uow.conn.execute(update(members).where(members.c.id == -1).values(status="x"))
        assert written.now() is not after_enrolment
        assert written.counted == 3


@pytest.mark.heavy(170)
def test_api_contract_all_checks(
    kopilka: Kopilka, program: Program, key_for: KeyFactory, make_member: Any
) -> None:
    """With every schemathesis check in every phase, generated requests find no problem
    beyond the rules :func:`beyond_the_schema` lists, and no refused request (4xx) writes a
    row but its idempotency record."""
    secret = key_for("admin")["Authorization"]
    member_id = make_member(program)
    points_svc.earn(kopilka.services, program, Earn(member_id, 10_000, key="all-seed"))
    points_svc.hold(kopilka.services, program, PlaceHold(member_id, 10, key="all-hold"))
    publish_rules(kopilka.services, program)
    receipt = basket(line("1", "300.00", quantity="5"), member_id=member_id, receipt_id="R-1")
    purchase_svc.commit(
        kopilka.services, program, commands.purchase(kopilka.services, program, receipt)
    )
    now = kopilka.services.now()
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": secret},
            "generation": {"max-examples": ALL_EXAMPLES},
            # a body over the size limit is refused too, with 413
            "checks": {
                "enabled": True,
                "negative_data_rejection": {"expected-statuses": [*_REFUSED, "413"]},
                # a valid body can exceed the deployment's size limit (16 KiB here): 413
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "413", "429"]
                },
            },
            "seed": int(os.environ.get("KOPILKA_CONTRACT_SEED", "18")),
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(kopilka), config=config)

    counts: dict[str, dict[str, int]] = {}
    refusals: list[str] = []
    written = Written(kopilka.services.engine)

    def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
        if case.operation.schema is schema:
            counts[case.id] = written.now()
        positive = case.meta is not None and case.meta.generation.mode.is_positive
        rules = case.operation.schema is schema and case.operation.path.startswith("/v1/rules")
        if positive and rules and isinstance(case.body, dict) and "document" in case.body:
            # a document's content is beyond any schema: send a valid one
            case.body = {**case.body, "document": RULES, "format": "yaml"}

    @schema.hook
    def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
        refused = response.status_code == 422 and case.meta.generation.mode.is_positive
        why = (
            beyond_the_schema(case.body, now)
            or manual_tier_refusal(case.body, now)
            or membership_refusal(case.body)
            or reward_refusal(case)
            or webhook_refusal(case)
            or template_refusal(case)
            or offer_and_analytics_refusal(case)
        )
        return not (refused and why)

    def refusal_writes_nothing(ctx: Any, response: Any, case: Any) -> bool | None:
        """A refused request (4xx) writes nothing but its own idempotency record."""
        before = counts.pop(case.id, None)
        if before is not None and 400 <= response.status_code < 500:
            refusals.append(case.id)
            assert written.now() == before, "a refused request wrote"
        return None

    problems: list[str] = []
    schemathesis.hook(before_call)  # global hooks and checks, for this test's schema only
    schemathesis.check(refusal_writes_nothing)
    try:
        with written:
            run = list(from_schema(schema).execute())
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)
        REGISTRY.unregister("refusal_writes_nothing")
    for event in run:
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                case = event.recorder.cases[case_id].value
                answer = event.recorder.interactions.get(case_id)
                got = answer.response if answer else None
                problems.extend(
                    f"{event.phase} {case.method} {case.formatted_path}: {c.name} "
                    f"{c.failure_info.failure.title if c.failure_info else ''}\n"
                    f"{case.body!r:.400}\n-> {got.status_code if got else ''} "
                    f"{got.content[:300] if got else b''!r}"
                    for c in checks
                    if c.status == Status.FAILURE
                )
        elif isinstance(event, events.FatalError | events.NonFatalError):
            problems.append(repr(event))
    assert not problems, "\n\n".join(problems)
    assert len(refusals) > 100  # the write check ran
    assert written.counted > 10  # and saw the accepted requests' writes: counted again
