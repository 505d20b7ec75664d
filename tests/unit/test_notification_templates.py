"""Message templates: every shipped topic renders in both languages with its sample
variables; a broken template's problems name the part and the line (syntax errors,
undefined variables, the sandbox's refusals, errors its expressions raise); HTML is
escaped, text is not; quiet hours and policies read and check their values."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.notifications import (
    LANGUAGES,
    Channel,
    FrequencyCap,
    NotificationPolicy,
    QuietHours,
)
from kopilka.services.notifications import (
    TOPICS,
    TemplateInvalid,
    TemplateSource,
    check_source,
    default_template,
    make_token,
    preview,
    read_token,
    render,
    sample_variables,
    templates,
)
from kopilka.services.notifications.unsubscribe import UnsubscribeToken


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_shipped_template_renders_with_its_samples(topic, language):
    """Each topic's default subject, HTML and text render in ``language`` with the sample
    variables, without problems, and a marketing one carries the unsubscribe link."""
    source = default_template(topic, language)
    assert check_source(source, sample_variables(topic)) == []
    out = preview(source)
    assert out.subject
    assert "\n" not in out.subject
    assert f'<html lang="{language}">' in out.html
    for name, value in TOPICS[topic].variables.items():
        if value:
            assert str(value) in out.text, f"{topic}/{language}: {name} not in the text"
    if TOPICS[topic].purpose == "marketing":
        assert str(sample_variables(topic)["unsubscribe_url"]) in out.text


def test_problems_point_to_the_part_and_the_line():
    """An undefined variable on line 2 of the HTML, a syntax error on line 3 of the text and
    an unknown filter in the subject are each reported with their part and line."""
    source = TemplateSource(
        "winback",
        "en",
        "Hi {{ days|shout }}",
        "<p>\n{{ nope }}\n{{ unsubscribe_url }}</p>",
        "one\ntwo\n{% if %}\n{{ unsubscribe_url }}",
    )
    problems = check_source(source, sample_variables("winback"))
    assert {(p["part"], p["line"]) for p in problems} == {("subject", 1), ("html", 2), ("text", 3)}
    html = next(p for p in problems if p["part"] == "html")
    assert "'nope' is undefined" in html["message"]


def test_the_sandbox_and_expression_errors_are_problems_not_crashes():
    """Reaching Python internals is refused by the sandbox, and an expression that raises
    (a number plus a text) is a problem on its line, not an exception."""
    source = TemplateSource(
        "expiry_reminder",
        "en",
        "{{ program_name.__class__.__mro__ }}",
        "<p>ok</p>",
        "first\n{{ points + 'x' }}",
    )
    problems = check_source(source, sample_variables("expiry_reminder"))
    assert [(p["part"], p["line"]) for p in problems] == [("subject", 1), ("text", 2)]
    assert "unsafe" in problems[0]["message"]
    with pytest.raises(TemplateInvalid) as refused:
        render(source, sample_variables("expiry_reminder"))
    assert len(refused.value.details["problems"]) == 2


def test_a_marketing_template_must_carry_the_unsubscribe_link():
    """A winback template without ``unsubscribe_url`` in its bodies is refused."""
    source = TemplateSource("winback", "ru", "Привет", "<p>{{ days }}</p>", "{{ days }}")
    problems = check_source(source, sample_variables("winback"))
    assert {p["part"] for p in problems} == {"html", "text"}


def test_html_is_escaped_and_text_is_not():
    """A value with markup is escaped in the HTML part and kept as it is in the text."""
    source = TemplateSource("otp_code", "en", "Code", "<p>{{ code }}</p>", "{{ code }}")
    out = render(source, {**sample_variables("otp_code"), "code": "<b>1</b>"})
    assert "&lt;b&gt;1&lt;/b&gt;" in out.html
    assert out.text == "<b>1</b>\n"


def test_quiet_hours_across_midnight_in_the_programs_zone():
    """21:00-09:00 in Moscow: 20:59 local is outside, 23:00 waits until 09:00 next day,
    03:00 until 09:00 the same day; equal start and end mean no quiet hours."""
    quiet = QuietHours(time(21), time(9))
    zone = "Europe/Moscow"
    before = datetime(2026, 3, 14, 17, 59, tzinfo=UTC)  # 20:59 in Moscow
    assert quiet.release_at(before, zone) == before
    late = datetime(2026, 3, 14, 20, 0, tzinfo=UTC)  # 23:00
    assert quiet.release_at(late, zone) == datetime(2026, 3, 15, 6, 0, tzinfo=UTC)
    night = datetime(2026, 3, 15, 0, 0, tzinfo=UTC)  # 03:00
    assert quiet.release_at(night, zone) == datetime(2026, 3, 15, 6, 0, tzinfo=UTC)
    assert QuietHours.never().release_at(late, zone) == late


def test_policy_round_trips_and_refuses_bad_values():
    """A policy survives its stored form; a bad time, an unknown channel, a cap out of range
    or an unknown language is a ValidationError naming the field."""
    policy = NotificationPolicy(
        caps={Channel.EMAIL: FrequencyCap(3, 10), Channel.SMS: FrequencyCap(1, 7)},
        quiet_hours=QuietHours(time(22, 30), time(8)),
        default_language="en",
        disabled_topics=frozenset({"winback"}),
    )
    again = NotificationPolicy.from_json(policy.to_json())
    assert again.cap(Channel.EMAIL) == FrequencyCap(3, 10)
    assert again.quiet_hours == policy.quiet_hours
    assert again.disabled_topics == {"winback"}
    bad = [
        {"quiet_hours": {"start": "25:00", "end": "08:00"}},
        {"caps": {"fax": {"count": 1, "days": 1}}},
        {"caps": {"email": {"count": 1, "days": 0}}},
        {"default_language": "de"},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            NotificationPolicy.from_json(data)


def test_unsubscribe_tokens_are_signed():
    """A token reads back with the secret it was made with, and not with another; a
    changed character or garbage is refused."""
    token = make_token("secret-a", UnsubscribeToken(3, 42, "marketing_sms"))
    assert read_token("secret-a", token) == UnsubscribeToken(3, 42, "marketing_sms")
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "garbage", ""):
        with pytest.raises(ValidationError):
            read_token("secret-a", wrong)
    with pytest.raises(ValidationError):
        read_token("secret-b", token)


def test_a_template_that_asks_too_much_is_a_problem_and_the_checker_goes_on(monkeypatch):
    """The check renders each part in a process of its own: a string of ten billion
    characters fails there for memory, loops of ten billion turns overrun the part's time
    (the process is stopped), each a problem of its part; and the next check, in a new
    process, passes a good template."""
    monkeypatch.setattr(templates, "CHECK_SECONDS", 1.0)
    huge = TemplateSource("expiry_reminder", "en", "{{ 'x' * 10**10 }}", "<p>ok</p>", "ok")
    problems = check_source(huge, sample_variables("expiry_reminder"))
    assert [(p["part"], p["message"]) for p in problems] == [("subject", "MemoryError")]
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    slow = TemplateSource("expiry_reminder", "en", "Hi", "<p>ok</p>", loops)
    problems = check_source(slow, sample_variables("expiry_reminder"))
    assert [(p["part"], p["message"]) for p in problems] == [
        ("text", "the template takes more than 1 s to render")
    ]
    good = default_template("expiry_reminder", "en")
    assert check_source(good, sample_variables("expiry_reminder")) == []
