"""Member notifications: messages to members (and to addresses not yet members) by
e-mail, SMS and push, from templates per topic and language, with consent, frequency caps
and quiet hours respected, and every message in a log (``messages``).

The interface the other capabilities call (see docs/notifications.md)::

    from kopilka.services.notifications import Notify, notify, deliver_now

    with ctx.uow() as uow:
        ...  # the caller's own change
        recorded = notify(uow, program, Notify(
            program_id=program.id,
            member_id=member.id,            # or None with to_address
            to_address=None,                # a phone / e-mail (or a push token)
            channel=None,                   # Channel.EMAIL | SMS | PUSH; None: inferred
            topic="otp_code",               # a registered topic (topics.py)
            variables={"code": "482913", "minutes": 10},   # exactly the topic's
            purpose=None,                   # Purpose.TRANSACTIONAL | MARKETING; None: topic's
            dedupe_key="otp:42:7",          # optional: once per program
        ), at=ctx.now())
        uow.commit()
    deliver_now(ctx, program, [recorded["id"]])      # a one-time code goes at once

- :func:`notify` records the message in the caller's unit of work, so it exists iff the
  caller's change commits. Its status is ``queued`` (``send_after``: now, or the end of
  the program's quiet hours unless the topic is urgent) or ``suppressed`` with a reason
  (:class:`~kopilka.domain.notifications.Suppressed`: ``no_address``, ``no_consent``,
  ``unsubscribed``, ``capped``, ``blocked``, ``topic_off``). Marketing needs the member's
  consent on the channel (``marketing_email``, ``marketing_sms``, ``push``) and room
  under the cap; transactional messages need only an address. Raises ValidationError
  for an unknown topic or wrong variables (nothing recorded then, the caller's unit of
  work is the caller's to roll back).
- :func:`deliver_now` sends given messages right away (after commit); the worker's
  ``messages`` job sends what is due every minute and retries failures.
- Topics: :func:`register_topic` with a :class:`Topic` (its variables and samples); its
  default templates ship under ``templates/<ru|en>/<topic>.subject|.html|.txt``.
- Templates (:mod:`.templates`): sandboxed Jinja2 with ``StrictUndefined``; a program's
  own versions are checked (errors with part and line) and audited.
- Channels (:mod:`.channels`): one :class:`Sender` interface; SMTP, generic HTTP, log.
- Unsubscribe (:mod:`.unsubscribe`): signed one-click links; the portal records the "no".
- The policy (:mod:`.policy`): caps per channel, quiet hours, default language.
"""

from __future__ import annotations

from kopilka.domain.notifications import (
    Channel,
    FrequencyCap,
    MessageStatus,
    NotificationPolicy,
    Purpose,
    QuietHours,
    Suppressed,
)
from kopilka.services.notifications.channels import (
    HttpSender,
    LogSender,
    Outgoing,
    Sender,
    SendFailed,
    SmtpSender,
    sender_for,
)
from kopilka.services.notifications.commands import Delivered, Notify, Recorded
from kopilka.services.notifications.log import MessageView, member_messages
from kopilka.services.notifications.policy import get_policy, set_policy
from kopilka.services.notifications.record import notify
from kopilka.services.notifications.send import deliver, deliver_now
from kopilka.services.notifications.templates import (
    Rendered,
    TemplateInvalid,
    TemplateProblem,
    TemplateSource,
    check_source,
    default_template,
    get_template,
    list_templates,
    preview,
    render,
    reset_template,
    sample_variables,
    save_template,
)
from kopilka.services.notifications.topics import TOPICS, Topic, get_topic, register_topic
from kopilka.services.notifications.unsubscribe import (
    Unsubscribed,
    UnsubscribeToken,
    make_token,
    read_token,
    unsubscribe,
    unsubscribe_url,
)

__all__ = [
    "TOPICS",
    "Channel",
    "Delivered",
    "FrequencyCap",
    "HttpSender",
    "LogSender",
    "MessageStatus",
    "MessageView",
    "NotificationPolicy",
    "Notify",
    "Outgoing",
    "Purpose",
    "QuietHours",
    "Recorded",
    "Rendered",
    "SendFailed",
    "Sender",
    "SmtpSender",
    "Suppressed",
    "TemplateInvalid",
    "TemplateProblem",
    "TemplateSource",
    "Topic",
    "UnsubscribeToken",
    "Unsubscribed",
    "check_source",
    "default_template",
    "deliver",
    "deliver_now",
    "get_policy",
    "get_template",
    "get_topic",
    "list_templates",
    "make_token",
    "member_messages",
    "notify",
    "preview",
    "read_token",
    "register_topic",
    "render",
    "reset_template",
    "sample_variables",
    "save_template",
    "sender_for",
    "set_policy",
    "unsubscribe",
    "unsubscribe_url",
]
