"""A service's message made with ``msg()`` is exactly its old English string wherever it
goes (str equality, JSON, idempotency records, pickling), and keeps its template and values
for the web layer to translate."""

from __future__ import annotations

import json
import pickle

from kopilka.domain.errors import InsufficientPoints, KopilkaError, NotFoundError
from kopilka.domain.messages import Message, msg


def test_a_message_is_its_english_text():
    """The value is ``template % params``, byte for byte the old f-string's text."""
    member_id = 5
    m = msg("member %(id)s not found", id=member_id)
    assert m == f"member {member_id} not found"
    assert isinstance(m, str)
    assert str(m) == "member 5 not found"
    assert m.template == "member %(id)s not found"
    assert m.params == {"id": 5}
    assert msg("at most %(p)s%% of the purchase", p=30) == "at most 30% of the purchase"
    assert msg("the rules document is empty") == "the rules document is empty"


def test_an_error_carries_it_unchanged_into_json_and_back():
    """The problem document and the idempotency record hold the same plain English; an
    error rebuilt from the record has a plain str (shown as before: summary + English)."""
    err = InsufficientPoints(
        msg(
            "member has %(available)s points available, %(requested)s requested",
            available=300,
            requested=1000,
        ),
        available=300,
        requested=1000,
    )
    dumped = json.dumps(err.to_dict())
    assert json.loads(dumped)["message"] == "member has 300 points available, 1000 requested"
    back = KopilkaError.from_dict(json.loads(dumped))
    assert back.message == err.message
    assert not isinstance(back.message, Message)


def test_a_message_survives_pickling():
    """An error that crosses a process boundary (the parallel import's workers) keeps its
    message, its template and its values."""
    err = NotFoundError(msg("hold %(id)s not found", id=7), hold_id=7)
    back = pickle.loads(pickle.dumps(err))
    assert back.message == "hold 7 not found"
    assert isinstance(back.message, Message)
    assert back.message.params == {"id": 7}
    assert str(back) == "hold 7 not found"


def test_a_page_translates_it_with_the_catalog():
    """On a Russian page ``problem_text`` shows the catalog's Russian with the same values
    (amounts as Russian writes them, a nested reason translated too); an English page the
    English as is; a message the catalog lacks, or a plain string, falls back to a Russian
    summary of the code followed by the English."""
    from kopilka.web import i18n
    from kopilka.web.render import problem_text, service_message

    short = msg(
        "member has %(available)s points available, %(requested)s requested",
        available=300,
        requested=1500,
    )
    why = msg(
        "points cannot pay for this purchase: %(reason)s",
        reason=msg("the program does not accept points as payment"),
    )
    with i18n.using("ru"):
        assert problem_text("insufficient_points", short) == (
            "у участника доступно баллов: 300, запрошено 1\xa0500"
        )
        assert problem_text("redemption_not_allowed", why) == (
            "эту покупку нельзя оплатить баллами: программа не принимает баллы в оплату"
        )
        assert problem_text("not_found", msg("no %(x)s here", x=1)) == "Не найдено. no 1 here"
        assert problem_text("not_found", "member 5 not found") == "Не найдено. member 5 not found"
        assert service_message("plain") == "plain"
    with i18n.using("en"):
        assert problem_text("insufficient_points", short) == (
            "member has 300 points available, 1500 requested"
        )


def test_the_located_errors_of_a_rules_document_are_translated():
    """The rules pages list a document's located errors (``details.errors``): the ones our
    checks write read in Russian on a Russian page; pydantic's own stay as they are."""
    import pytest

    from kopilka.domain.errors import ValidationError
    from kopilka.domain.rules.document import parse_ruleset
    from kopilka.web import i18n
    from kopilka.web.render import make_environment

    with pytest.raises(ValidationError) as caught:
        parse_ruleset("currency: RUB\nrules: []\nredemption: {}\nfoo: [1\n", fmt="yaml", version=1)
    with pytest.raises(ValidationError) as empty:
        parse_ruleset("", fmt="yaml", version=1)
    template = make_environment().from_string(
        '{% from "_macros.html" import problem %}{{ problem(error) }}'
    )
    with i18n.using("ru"):
        html = template.render(error=empty.value)
        assert "документ пуст" in html
        assert "the document is empty" not in html.split("</strong>")[1]
        assert "ошибка YAML" in template.render(error=caught.value)
    with i18n.using("en"):
        assert "line 1</span>: the document is empty" in template.render(error=empty.value)


def test_pydantics_common_messages_in_a_rules_document_are_translated():
    """A rule's points not above zero, an unknown field and a missing one are pydantic's
    errors: their English stays pydantic's own text, byte for byte, and a Russian page
    reads them in Russian."""
    import pytest

    from kopilka.domain.errors import ValidationError
    from kopilka.domain.messages import Message
    from kopilka.domain.rules.document import parse_ruleset
    from kopilka.web import i18n
    from kopilka.web.render import service_message

    document = (
        "currency: RUB\n"
        "rules:\n"
        "  - id: base\n"
        "    kind: rate\n"
        "    rate: {points: 0, per: '100'}\n"
        "    colour: red\n"
        "  - kind: multiplier\n"
        "    factor: 2\n"
    )
    with pytest.raises(ValidationError) as caught:
        parse_ruleset(document, fmt="yaml", version=1)
    located = {e["message"] for e in caught.value.details["errors"]}
    assert {
        "Input should be greater than 0",
        "Extra inputs are not permitted",
        "Field required",
    } <= located
    assert all(isinstance(m, Message) for m in located if m.startswith(("Input", "Extra", "Field")))
    with i18n.using("ru"):
        russian = {service_message(m) for m in located}
    assert {
        "Значение должно быть больше 0",
        "Лишнее поле: такого в документе нет",
        "Поле обязательно",
    } <= russian


def test_our_validators_messages_in_a_rules_document_are_translated():
    """A check of ours inside the document's schema (a rate with both points+per and
    percent) keeps its English on the API and reads in Russian on a Russian page."""
    import pytest

    from kopilka.domain.errors import ValidationError
    from kopilka.domain.messages import Message
    from kopilka.domain.rules.document import parse_ruleset
    from kopilka.web import i18n
    from kopilka.web.render import service_message

    document = (
        "currency: RUB\n"
        "rules:\n"
        "  - id: base\n"
        "    kind: rate\n"
        "    rate: {points: 1, per: '100', percent: 2}\n"
    )
    with pytest.raises(ValidationError) as caught:
        parse_ruleset(document, fmt="yaml", version=1)
    (error,) = caught.value.details["errors"]
    assert error["message"] == "give either points+per or percent, not both"
    assert isinstance(error["message"], Message)
    assert "give either points+per or percent, not both" in caught.value.message
    with i18n.using("ru"):
        assert (
            service_message(error["message"])
            == "укажите либо points и per, либо percent, но не оба"
        )
