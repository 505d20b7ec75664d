"""The outbox's events as documentation: the JSON Schema of the envelope every channel
delivers and of each event type's payload (docs/events.md), also in the OpenAPI
document's components (:func:`document`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from kopilka.services import outbox

# public, as /openapi.json is, so outside /v1 (whose every route needs a key)
router = APIRouter(tags=["outbox"])
SCHEMA_PATH = "/schemas/events.json"


@router.get(SCHEMA_PATH)
def event_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the outbox's events: ``$defs.EventEnvelope`` is what a
    webhook or a NATS message carries; its ``data`` has the shape of the payload whose
    ``x-event-types`` names the event's ``type``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": outbox.json_schemas(),
        "x-schema-version": outbox.SCHEMA_VERSION,
    }


def document(app: FastAPI) -> None:
    """Put the events' schemas into the OpenAPI document's ``components.schemas`` (the
    API's own models keep their names: an event's never replaces one)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in outbox.json_schemas("#/components/schemas/{model}").items():
            if name in schemas:
                raise RuntimeError(f"an event's schema {name!r} has the name of an API model")
            schemas[name] = schema
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
