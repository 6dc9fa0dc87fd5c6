"""Is the API's port free? Checked before migrations and seeding, so a second `dev` or a
busy port fails at once with one line instead of a JSON log line after a minute of work."""

from __future__ import annotations

import errno
import socket


class PortBusyError(Exception):
    """The API cannot listen where it is told to; the message says where and what to do."""


def ensure_port_free(host: str, port: int) -> None:
    """Bind the address exactly as uvicorn will (its Config.bind_socket: IPv6 when the host
    has a colon, else IPv4; SO_REUSEADDR), then let it go. Raises PortBusyError in one line."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as exc:
            raise PortBusyError(f"HOST: cannot listen on {host!r}: {exc.strerror}") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusyError(
                    f"PORT: {where} is already in use (another commune-pulse?); stop it or set PORT"
                ) from None
            if exc.errno == errno.EACCES:
                raise PortBusyError(f"PORT: no permission to listen on {where}; use a port above 1023") from None
            raise PortBusyError(f"HOST: cannot listen on {where}: {exc.strerror}") from None
