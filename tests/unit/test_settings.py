"""Settings from KOPILKA_* variables: parsing, refusals, and the database URL."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from kopilka.settings import DEV_SECRET, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KOPILKA_* variable or .env file from the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("KOPILKA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_environment_variables_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed values come from KOPILKA_* variables, case-insensitively for booleans."""
    monkeypatch.setenv("KOPILKA_PORT", "9001")
    monkeypatch.setenv("KOPILKA_WORKERS", "4")
    monkeypatch.setenv("KOPILKA_LOG_JSON", "TRUE")
    monkeypatch.setenv("KOPILKA_LOG_LEVEL", "debug")
    monkeypatch.setenv("KOPILKA_DATA_DIR", "/srv/kopilka")
    s = load_settings()
    assert (s.port, s.workers, s.log_json, s.log_level) == (9001, 4, True, "debug")
    assert s.data_dir == Path("/srv/kopilka")


def test_defaults_listen_locally_on_sqlite_under_data() -> None:
    """Without configuration Kopilka listens on 127.0.0.1:8000 and uses data/kopilka.db."""
    s = load_settings()
    assert (s.host, s.port, s.environment) == ("127.0.0.1", 8000, "development")
    assert s.effective_database_url == "sqlite:///data/kopilka.db"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    """A .env file in the working directory supplies settings too."""
    (tmp_path / ".env").write_text("KOPILKA_PORT=8123\n")
    assert load_settings().port == 8123


def test_explicit_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword overrides to load_settings beat the environment."""
    monkeypatch.setenv("KOPILKA_PORT", "9001")
    assert load_settings(port=9002).port == 9002


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KOPILKA_PORT", "0"),
        ("KOPILKA_PORT", "http"),
        ("KOPILKA_WORKERS", "65"),
        ("KOPILKA_LOG_LEVEL", "verbose"),
        ("KOPILKA_ENVIRONMENT", "staging"),
        ("KOPILKA_SQLITE_SYNCHRONOUS", "OFF"),
        ("KOPILKA_DATABASE_URL", "mysql://db/kopilka"),
        ("KOPILKA_SIGN_IN_LIMIT", "ten a minute"),
        ("KOPILKA_SIGN_IN_LIMIT", "0 per minute"),
        ("KOPILKA_METRICS_TOKEN", "short"),
        ("KOPILKA_SIGN_IN_STORE", "mongodb://db/counts"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A value of the wrong type or out of range fails loudly at start-up."""
    monkeypatch.setenv(name, value)
    with pytest.raises(pydantic.ValidationError):
        load_settings()


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """In production the development secret is refused, so sessions cannot be forged."""
    monkeypatch.setenv("KOPILKA_ENVIRONMENT", "production")
    with pytest.raises(pydantic.ValidationError, match="KOPILKA_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("KOPILKA_SECRET_KEY", "a-real-secret-from-the-vault")
    assert load_settings().secret_key != DEV_SECRET


def test_development_accepts_the_default_secret() -> None:
    """Outside production the development secret is allowed, so `make demo` just works."""
    assert load_settings(environment="test").secret_key == DEV_SECRET


@pytest.mark.parametrize(
    "url",
    [
        "postgres://kopilka:pw@db:5432/kopilka",
        "postgresql://kopilka:pw@db:5432/kopilka",
        "postgresql+psycopg://kopilka:pw@db:5432/kopilka",
    ],
)
def test_postgres_urls_use_psycopg3(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Any PostgreSQL URL spelling is normalised to the psycopg 3 driver."""
    monkeypatch.setenv("KOPILKA_DATABASE_URL", url)
    s = load_settings()
    assert s.effective_database_url == "postgresql+psycopg://kopilka:pw@db:5432/kopilka"


def test_explicit_database_url_beats_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """KOPILKA_DATABASE_URL, when set, is used instead of the file under the data dir."""
    monkeypatch.setenv("KOPILKA_DATA_DIR", "/srv/kopilka")
    monkeypatch.setenv("KOPILKA_DATABASE_URL", "sqlite:////var/lib/k.db")
    assert load_settings().effective_database_url == "sqlite:////var/lib/k.db"


def test_sign_in_limit_is_read_in_the_limits_notation(monkeypatch: pytest.MonkeyPatch) -> None:
    """KOPILKA_SIGN_IN_LIMIT takes the ``limits`` library's notation."""
    assert load_settings().sign_in_limit == "10 per 15 minutes"
    monkeypatch.setenv("KOPILKA_SIGN_IN_LIMIT", "5/hour")
    assert load_settings().sign_in_limit == "5/hour"


def test_message_channel_settings_are_checked():
    """STARTTLS and implicit TLS exclude each other; the http adapter needs its URL, which
    must be http(s); the SMTP password is a secret (not in the settings' repr)."""
    with pytest.raises(pydantic.ValidationError, match="exclude each other"):
        load_settings(smtp_starttls=True, smtp_ssl=True)
    with pytest.raises(pydantic.ValidationError, match="KOPILKA_SMS_URL is needed"):
        load_settings(sms_adapter="http")
    with pytest.raises(pydantic.ValidationError, match="must be an http"):
        load_settings(push_adapter="http", push_url="ftp://x")
    ok = load_settings(email_adapter="smtp", smtp_password="hunter2-secret", sms_adapter="log")
    assert "hunter2-secret" not in repr(ok)
