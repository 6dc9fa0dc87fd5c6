"""The files in deploy/ and the README's Deploying section agree with the code.

systemd's own analyser rates the units' hardening and nginx checks the example, when
those programs are installed (Debian: systemd, nginx-light); the rest needs neither."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from backend.cli import COMMANDS

ROOT = Path(__file__).parent.parent
UNITS = sorted((ROOT / "deploy/systemd").glob("*.service"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
HARDENING = (
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter=@system-service",
)


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_one_unit_for_the_api_and_one_for_the_worker() -> None:
    assert [p.name for p in UNITS] == ["commune-pulse-api.service", "commune-pulse-worker.service"]
    commands = {}
    for path in UNITS:
        service = unit(path)["Service"]
        program, command = service["ExecStart"].split()
        assert program == "/opt/commune-pulse/.venv/bin/commune-pulse"
        assert command in COMMANDS
        commands[path.name] = command
        assert service["EnvironmentFile"] == "/etc/commune-pulse/env"
        assert service["User"] == "commune-pulse"
        assert service["Restart"] == "on-failure"
        assert service["KillSignal"] == "SIGTERM"
        text = path.read_text(encoding="utf-8")
        missing = [line for line in HARDENING if f"\n{line}\n" not in text]
        assert not missing, f"{path.name} lacks {missing}"
    assert commands == {"commune-pulse-api.service": "serve", "commune-pulse-worker.service": "worker"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("path", UNITS, ids=[p.name for p in UNITS])
def test_systemd_rates_the_hardening_ok(path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(path)], capture_output=True, text=True, timeout=60
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) < 2.0, result.stdout


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_the_nginx_example_is_valid(tmp_path: Path) -> None:
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=api.example.vn"),
            *("-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    site = (ROOT / "deploy/nginx/commune-pulse.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/letsencrypt/live/api.example.vn/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/api.example.vn/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/site.conf; }}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # The address the API sees is nginx's view of the client, not a header the client sent.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "127.0.0.1:8000" in site


def deploying_section() -> str:
    match = re.search(r"^## Deploying\n(.*?)^## ", README, re.M | re.S)
    assert match, "README lost its Deploying section"
    return match[1]


def test_the_deploying_section_names_every_secret_and_step() -> None:
    section = deploying_section()
    for secret in (
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_SECRET",
        "FEEDBACK_KEYS",
        "FEEDBACK_KEY_ID",
        "FINGERPRINT_KEYS",
        "FCM_CREDENTIALS",
        "ADMIN_PASSWORD",
        "TRUSTED_PROXIES",
    ):
        assert f"`{secret}`" in section, secret
    for step in ("pulse migrate", "pulse seed", "pulse create-admin", "pg_dump", "restore-check", "systemctl"):
        assert step in section, step
    for path in ("deploy/systemd/commune-pulse-api.service", "deploy/nginx/commune-pulse.conf"):
        assert (ROOT / path).is_file()
    assert section.index("pulse migrate") < section.index("systemctl enable")
