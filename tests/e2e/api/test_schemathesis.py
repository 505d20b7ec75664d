"""Property-based contract test: generated requests against /openapi.json find no server
error and no response that breaks the documented schema.

Every operation gets positive (valid) and negative (invalid) generated requests,
authenticated with an admin key; path values are pinned to a real member, hold, receipt
and rule-set version for positive requests so the handlers run past the lookups.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import points as points_svc
from kopilka.services import purchases as purchase_svc
from tests.e2e.api.conftest import KeyFactory
from tests.e2e.api.factories import basket, line, publish_rules

# raise it for a deeper run: KOPILKA_CONTRACT_EXAMPLES=200 pytest -k contract
EXAMPLES = int(os.environ.get("KOPILKA_CONTRACT_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_contract(
    kopilka: Kopilka, program: Program, key_for: KeyFactory, make_member: Any
) -> None:
    """No generated request, valid or not, makes a 5xx or a response outside the schema."""
    headers = key_for("admin")
    member_id = make_member(program)
    points_svc.earn(kopilka.services, program, member_id, 10_000, key="contract-seed")
    hold = points_svc.hold(kopilka.services, program, member_id, 10, key="contract-hold")
    version = publish_rules(kopilka.services, program)
    receipt = basket(line("1", "300.00", quantity="5"), member_id=member_id, receipt_id="R-1")
    purchase_svc.commit(kopilka.services, program, receipt)
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
