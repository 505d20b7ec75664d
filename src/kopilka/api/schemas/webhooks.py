"""The HTTP shape of webhook subscriptions (``/v1/webhooks``): what an admin sends to
subscribe a URL, change or redeliver, and what the API answers (the secret only once)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from kopilka.api.schemas.common import Input, Instant, Trim
from kopilka.services.outbox import PAYLOADS
from kopilka.services.webhooks import AddSubscription, ChangeSubscription

# http(s) with a host; where the host resolves to is checked by the service (docs/events.md)
Url = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^/?#\s]+"), Trim]
EventType = Annotated[str, Field(max_length=40, json_schema_extra={"enum": sorted(PAYLOADS)}), Trim]
Secret = Annotated[str, Field(min_length=1, max_length=200)]


class SubscriptionCreate(Input):
    """Send the program's events of ``event_types`` (empty: every type) to ``url``; the
    answer carries the signing ``secret`` once (given here, or a new one). An address in
    a private or loopback network is refused unless the server allows it."""

    url: Url
    event_types: Annotated[list[EventType], Field(max_length=len(PAYLOADS))] = Field(
        default_factory=list
    )
    secret: Secret | None = None

    def to_command(self) -> AddSubscription:
        """The service's command."""
        return AddSubscription(self.url, tuple(self.event_types), self.secret)


class SubscriptionChange(Input):
    """Another URL and/or other event types (absent: as they are)."""

    url: Url | None = None
    event_types: Annotated[list[EventType], Field(max_length=len(PAYLOADS))] | None = None

    def to_command(self, subscription_id: int) -> ChangeSubscription:
        """The service's command."""
        types = None if self.event_types is None else tuple(self.event_types)
        return ChangeSubscription(subscription_id, self.url, types)


class SubscriptionOut(BaseModel):
    id: int
    url: str
    event_types: list[str] = Field(description="empty: every type")
    created_at: str


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="shown once: the receiver verifies signatures with it")


class DeliveryAttemptOut(BaseModel):
    event_id: str
    event_type: str
    status: str = Field(description="the delivery's status now: pending, delivered or dead")
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class RedeliverRequest(Input):
    """One event (``event_id``) or the events created in [``since``, ``until``)
    (``until`` absent: up to now)."""

    event_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None
    since: Instant | None = None
    until: Instant | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.event_id is None) == (self.since is None):
            raise ValueError("give event_id, or since (and until), not both")
        if self.event_id is not None and self.until is not None:
            raise ValueError("until goes with since")
        return self


class Redelivered(BaseModel):
    redelivered: int = Field(description="deliveries made due again (the worker sends them)")
