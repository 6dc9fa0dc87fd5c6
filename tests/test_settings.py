"""Settings from the environment, and the command's one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest

from backend.settings import VARIABLES, Settings, SettingsError, parse_duration


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None and settings.redis_url is None
    assert (settings.host, settings.port, settings.push_provider) == ("127.0.0.1", 8000, "log")
    assert settings.jwt_access_ttl == 900


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db:5432/pulse",
            "JWT_SECRET": "s" * 32,
            "FEEDBACK_KEYS": "k1:" + "A" * 43 + "=",
            "FINGERPRINT_KEYS": "f2:" + "B" * 43 + "=, f1:" + "C" * 43 + "=",
            "PORT": "9000",
            "JWT_ACCESS_TTL": "10m",
            "CITIZEN_TOKEN_TTL": "30d",
            "CORS_ORIGINS": "https://a.vn, https://b.vn",
            "LOG_LEVEL": "debug",
            "REDIS_URL": "redis://cache:6379/2",
        }
    )
    assert settings.port == 9000
    assert settings.jwt_access_ttl == 600
    assert settings.citizen_token_ttl == 30 * 86400
    assert settings.cors_origins == ("https://a.vn", "https://b.vn")
    assert settings.log_level == "DEBUG"
    assert [key_id for key_id, _ in settings.fingerprint_keys] == ["f2", "f1"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "eighty"}, "PORT: expected a whole number from 1 to 65535"),
        ({"PORT": "70000"}, "PORT: expected a whole number"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: expected a URL starting with postgres://"),
        ({"DATABASE_URL": "postgresql://x/db"}, "JWT_SECRET: required when DATABASE_URL is set"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET: expected at least 32 characters"),
        (
            {"DATABASE_URL": "postgresql://x/db", "JWT_SECRET": "s" * 32},
            "FEEDBACK_KEYS: required when DATABASE_URL is set",
        ),
        (
            {"DATABASE_URL": "postgresql://x/db", "JWT_SECRET": "s" * 32, "FEEDBACK_KEYS": "k1:" + "A" * 43 + "="},
            "FINGERPRINT_KEYS: required when DATABASE_URL is set",
        ),
        ({"FEEDBACK_KEYS": "k1:c2hvcnQ="}, "FEEDBACK_KEYS: key 'k1' is not 32 bytes"),
        ({"FINGERPRINT_KEYS": "f1:c2hvcnQ="}, "FINGERPRINT_KEYS: key 'f1' is not 32 bytes"),
        ({"FINGERPRINT_KEYS": "f1:" + "A" * 43 + "=,f1:" + "B" * 43 + "="}, "FINGERPRINT_KEYS: expected"),
        ({"FEEDBACK_KEYS": "k1:" + "A" * 43 + "=", "FEEDBACK_KEY_ID": "k2"}, "FEEDBACK_KEY_ID: 'k2' is not one"),
        ({"JWT_ACCESS_TTL": "15 minutes"}, "JWT_ACCESS_TTL: expected a duration"),
        ({"PUSH_PROVIDER": "sms"}, "PUSH_PROVIDER: expected one of log, fcm"),
        ({"PUSH_PROVIDER": "fcm"}, "FCM_CREDENTIALS: required when PUSH_PROVIDER=fcm"),
        ({"PUSH_PROVIDER": "fcm", "FCM_CREDENTIALS": "/nope.json"}, "FCM_CREDENTIALS: no such file"),
        ({"CORS_ORIGINS": "not a url"}, "CORS_ORIGINS: expected comma-separated origins"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL: expected one of"),
        ({"REDIS_KEY_PREFIX": "a b"}, "REDIS_KEY_PREFIX"),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("variable", [v.name for v in VARIABLES])
@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_value_is_an_error_naming_the_variable(variable: str, blank: str) -> None:
    # `export JWT_SECRET=` from a half-filled env file must not quietly mean "generate one".
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: blank})
    assert str(caught.value).startswith(f"{variable}: set to an empty value; unset it to get ")
    assert "\n" not in str(caught.value)


def test_an_empty_value_names_the_default_it_would_have_had() -> None:
    with pytest.raises(SettingsError, match=r"^PORT: set to an empty value; unset it to get the default \(8000\)$"):
        Settings.from_env({"PORT": ""})
    with pytest.raises(SettingsError, match=r"^CORS_ORIGINS: set to an empty value; unset it to get no value$"):
        Settings.from_env({"CORS_ORIGINS": ""})


def test_an_empty_value_stops_the_command_before_anything_starts(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "migrate"],
        env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "var"), "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "commune-pulse: DATABASE_URL: set to an empty value; unset it to get the default (embedded)"
    )
    assert not (tmp_path / "var").exists(), "nothing may start before the settings are accepted"


def test_durations() -> None:
    assert [parse_duration(v) for v in ("45", "45s", "2m", "3h", "1d")] == [45, 45, 120, 10800, 86400]
    for bad in ("0", "-1", "1w", ""):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in readme]
    assert not missing, f"README lacks {missing}: paste `commune-pulse settings`"


def test_a_bad_setting_stops_the_command_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "migrate"],
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "commune-pulse: PORT: expected a whole number from 1 to 65535 (got 'eighty')"
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_line_too(unused_tcp_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "migrate"],
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{unused_tcp_port}/x",
            "JWT_SECRET": "s" * 32,
            "FEEDBACK_KEYS": "k1:" + "A" * 43 + "=",
            "FINGERPRINT_KEYS": "f1:" + "B" * 43 + "=",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("commune-pulse: cannot reach a server")
    assert "Traceback" not in result.stderr
