"""The HTTP shape of message templates and the notification policy
(``/v1/notifications/...``): what an admin sends and what the API answers. A template's
text is checked here for its size and NUL characters only; whether it renders (Jinja2 in
a sandbox, with the topic's sample values) is the service's check, whose problems name
their part and line."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from kopilka.api.schemas.common import Input, Whole
from kopilka.domain.notifications import Channel, FrequencyCap, NotificationPolicy, QuietHours
from kopilka.domain.notifications import parse_clock as read_clock
from kopilka.services import notifications as notif_svc
from kopilka.services.notifications.templates import MAX_TEMPLATE


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps such input a 422
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


TemplateText = Annotated[
    str, Field(max_length=MAX_TEMPLATE, pattern=r"^[^\x00]*$"), AfterValidator(_no_nul)
]
Clock = Annotated[str, Field(max_length=5, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")]
# the topics are registered when the notifications are imported: the schema names them
TopicKey = Annotated[
    str, Field(max_length=64, json_schema_extra={"enum": sorted(notif_svc.TOPICS)})
]


class TemplateIn(Input):
    """A topic's template in one language: a subject (one line once rendered), an HTML
    body and a plain-text body, each Jinja2 with the topic's variables."""

    subject: TemplateText
    html: TemplateText
    text: TemplateText

    def to_source(self, topic: str, language: str) -> notif_svc.TemplateSource:
        """The service's template."""
        return notif_svc.TemplateSource(topic, language, self.subject, self.html, self.text)


class TemplateOut(BaseModel):
    topic: str
    language: str
    subject: str
    html: str
    text: str
    custom: bool = Field(description="the program's own version; false: the shipped default")

    @classmethod
    def of(cls, source: notif_svc.TemplateSource) -> TemplateOut:
        """The answer for a template."""
        return cls(
            topic=source.topic,
            language=source.language,
            subject=source.subject,
            html=source.html,
            text=source.text,
            custom=source.custom,
        )


class RenderedOut(BaseModel):
    """A template rendered with its topic's sample values, as a message would be sent."""

    subject: str
    html: str
    text: str


class TopicTemplates(BaseModel):
    """A topic: its purpose, whether it ignores quiet hours, its variables with their
    sample values, and per language whether the program changed the template."""

    topic: str
    purpose: str
    urgent: bool
    variables: dict[str, Any]
    custom: dict[str, bool]


class CapIn(Input):
    count: Annotated[int, Field(strict=True, ge=0, le=1000), Whole] = Field(
        description="0: no marketing at all"
    )
    days: Annotated[int, Field(strict=True, ge=1, le=366), Whole]


class QuietHoursIn(Input):
    start: Clock = Field(description="HH:MM in the program's time zone")
    end: Clock = Field(description="HH:MM; equal to start: no quiet hours")


class PolicyIn(Input):
    """The whole policy: marketing caps per channel (a channel not named keeps the
    default, 2 in 7 days), quiet hours, the language of members who have none, and the
    topics switched off."""

    caps: dict[Literal["email", "sms", "push"], CapIn] = Field(default_factory=dict)
    quiet_hours: QuietHoursIn = Field(
        default_factory=lambda: QuietHoursIn(start="21:00", end="09:00")
    )
    default_language: Literal["ru", "en"] = "ru"
    disabled_topics: Annotated[list[TopicKey], Field(max_length=64)] = Field(default_factory=list)

    @field_validator("disabled_topics")
    @classmethod
    def _known(cls, topics: list[str]) -> list[str]:
        unknown = sorted(set(topics) - set(notif_svc.TOPICS))
        if unknown:
            known = ", ".join(sorted(notif_svc.TOPICS))
            raise ValueError(f"unknown topic {unknown[0]!r}; the topics are: {known}")
        return topics

    def to_policy(self) -> NotificationPolicy:
        """The domain's policy."""
        caps = {c: FrequencyCap() for c in Channel}
        for name, cap in self.caps.items():
            caps[Channel(name)] = FrequencyCap(cap.count, cap.days)
        quiet = QuietHours(
            read_clock(self.quiet_hours.start, "quiet_start"),
            read_clock(self.quiet_hours.end, "quiet_end"),
        )
        return NotificationPolicy(
            caps, quiet, self.default_language, frozenset(self.disabled_topics)
        )


class CapOut(BaseModel):
    count: int
    days: int


class QuietHoursOut(BaseModel):
    start: str
    end: str


class PolicyOut(BaseModel):
    caps: dict[str, CapOut]
    quiet_hours: QuietHoursOut
    default_language: str
    disabled_topics: list[str]
