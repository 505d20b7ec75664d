"""Rule sets: publish a version, list and read versions, preview a draft."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from kopilka.api.schemas.common import Input, Instant, refuse_nulls
from kopilka.api.schemas.events import EventIn
from kopilka.api.schemas.purchases import BasketIn
from kopilka.domain.program import Program
from kopilka.services.rules import (
    MAX_DOCUMENT,
    PreviewEvent,
    PreviewPurchase,
    PreviewRules,
    RulesFormat,
)

# what YAML (and so the rules loader, JSON included) accepts as text; NUL is not in it
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _printable(document: str) -> str:
    found = _NOT_PRINTABLE.search(document)
    if found:
        line = document.count("\n", 0, found.start()) + 1
        raise ValueError(f"line {line}: character U+{ord(found.group()):04X} is not allowed")
    return document


Document = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_DOCUMENT),
    AfterValidator(_printable),
]


class Draft(Input):
    document: Document = Field(description="the rules document, YAML or JSON text")
    format: Literal["yaml", "json"] = "yaml"


class RuleSetCreate(Draft):
    effective_at: Instant | None = Field(
        default=None, description="default: now; a time in the past needs `backdate`"
    )
    backdate: bool = Field(
        default=False,
        description="allow an effective_at in the past (admin only, audited as "
        "rules.backdate): for a chain that publishes its old rules before importing its "
        "history. Purchases already booked keep their points.",
    )


class PreviewRequest(Draft):
    """A draft evaluated on a basket or an event for a member; nothing is published."""

    # exactly one of the two, as the schema can say it (neither may be null)
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["purchase"]}, {"required": ["event"]}]}
    )

    purchase: BasketIn | SkipJsonSchema[None] = None
    event: EventIn | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return refuse_nulls(data, ("purchase", "event"))

    @model_validator(mode="after")
    def _one_subject(self) -> PreviewRequest:
        if (self.purchase is None) == (self.event is None):
            raise ValueError("preview takes either a purchase or an event")
        return self

    def to_command(self, program: Program, now: datetime) -> PreviewRules:
        """The preview the body asks for."""
        subject: PreviewPurchase | PreviewEvent
        if self.purchase is not None:
            subject = self.purchase.to_preview(program, now)
        else:
            assert self.event is not None  # exactly one, as validated
            subject = self.event.to_preview()
        return PreviewRules(self.document, subject, RulesFormat(self.format))


class RuleSummary(BaseModel):
    id: str
    kind: str
    description: str
    visible: bool
    event: str | None


class RuleSetSummary(BaseModel):
    version: int
    format: str
    effective_at: datetime
    published_at: datetime
    published_by: str


class RuleSetPublic(RuleSetSummary):
    rules: list[RuleSummary] = Field(description="every rule, hidden ones included")


class RuleSetVersion(RuleSetPublic):
    document: str = Field(description="the document as published")


class RuleSetList(BaseModel):
    items: list[RuleSetSummary] = Field(description="oldest version first")


class PreviewResult(BaseModel):
    member_id: int
    points_earned: int
    by_rule: dict[str, int]
    by_line: dict[str, int]
    max_redeemable: int
    control_group: list[str]


class RuleProposalPublic(BaseModel):
    """Rules a marketer proposed, for an admin to approve in the console (when the program
    asks that rules be approved: ``kopilka program set-rules-approval CODE on``)."""

    id: int
    format: str
    effective_at: datetime | None = Field(description="null: when it is approved")
    proposed_by: str
    proposed_at: datetime
    status: Literal["proposed", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None = Field(description="the admin's reason for a rejection")
    version: int | None = Field(description="the version its approval published")
