"""The outbox events' JSON Schema, published at /schemas/events.json and in the OpenAPI
document's components, where every reference resolves."""

from __future__ import annotations

from fastapi.testclient import TestClient

TYPES = {
    "member.enrolled",
    "member.updated",
    "member.blocked",
    "member.unblocked",
    "purchase.committed",
    "purchase.returned",
    "points.adjusted",
    "points.expired",
    "hold.captured",
    "hold.voided",
    "hold.timed_out",
    "tier.changed",
    "budget.cap_exceeded",
    "member.erased",
    "consent.changed",
    "identifier.changed",
    "points.earned",
    "points.redeemed",
    "hold.placed",
    "import.finished",
    "accrual.done",
    "reward.issued",
    "reward.cancelled",
    "reward.expired",
}


def refs(node: object) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node)) if node else set()
    return set()


def test_schema_document_names_every_event_type(client: TestClient) -> None:
    """Without a key, /schemas/events.json answers the envelope and one payload schema per
    event type, and each of its references points inside it."""
    answer = client.get("/schemas/events.json")
    assert answer.status_code == 200
    doc = answer.json()
    defs = doc["$defs"]
    assert set(defs["EventEnvelope"]["required"]) >= {"id", "type", "member_id", "data"}
    assert {t for s in defs.values() for t in s.get("x-event-types", [])} == TYPES
    for ref in refs(doc):
        assert ref.removeprefix("#/$defs/") in defs, ref


def test_openapi_components_carry_the_event_schemas(client: TestClient) -> None:
    """The OpenAPI document has the same schemas among its components, with references
    that resolve there, and documents the schema's route."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "EventEnvelope" in schemas
    assert schemas["PurchaseCommitted"]["x-event-types"] == ["purchase.committed"]
    assert schemas["TierChanged"]["x-event-types"] == ["tier.changed"]
    assert schemas["PointsEarned"]["x-event-types"] == ["points.earned"]
    assert schemas["ImportFinished"]["x-event-types"] == ["import.finished"]
    assert schemas["ConsentChangedEvent"]["x-event-types"] == ["consent.changed"]
    assert schemas["RewardIssuedEvent"]["x-event-types"] == ["reward.issued"]
    assert schemas["RewardEnded"]["x-event-types"] == ["reward.cancelled", "reward.expired"]
    for ref in refs(schemas):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert "/schemas/events.json" in spec["paths"]
