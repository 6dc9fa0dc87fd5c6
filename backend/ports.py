"""Is the API's port free? Checked before migrations and seeding, so a second `dev` or a
busy port fails at once with one line instead of a JSON log line after a minute of work."""

from __future__ import annotations

import errno
import socket


class PortBusyError(Exception):
    """The API cannot listen where it is told to; the message says where and what to do."""


def ensure_port_free(host: str, port: int) -> None:
    """Bind the address the way uvicorn will (SO_REUSEADDR, every address the host names),
    then let it go. Raises PortBusyError in one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortBusyError(f"HOST: cannot listen on {host!r}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                if exc.errno == errno.EADDRINUSE:
                    raise PortBusyError(
                        f"PORT: {where} is already in use (another commune-pulse?); stop it or set PORT"
                    ) from None
                if exc.errno == errno.EACCES:
                    raise PortBusyError(f"PORT: no permission to listen on {where}; use a port above 1023") from None
                raise PortBusyError(f"HOST: cannot listen on {where}: {exc.strerror}") from None
