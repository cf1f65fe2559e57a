"""A minimal IPP/1.1 client for the few operations nodkit needs from CUPS.

Why not lpstat: `lpstat` shows a finished job only as "completed" whether it
printed, was cancelled or aborted, and never says how many pages came out.
Why not pycups: it needs a C compiler and libcups headers on the kit PC. IPP
is a small binary format over HTTP (RFC 8010/8011); CUPS speaks it on its
unix socket or on port 631.

The server is found as libcups finds it, so `lp` and this client always talk
to the same cupsd: $CUPS_SERVER, then ServerName in ~/.cups/client.conf and
/etc/cups/client.conf, then the local domain socket, then localhost:631.

Operations: get_job (Get-Job-Attributes), get_printer (Get-Printer-Attributes),
cancel_job (Cancel-Job). Errors are IppError (an OSError subclass: the caller
decides what it means to the person at the printer).
"""

from __future__ import annotations

import http.client
import itertools
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from nodkit.printing.audit import os_user

# operations (RFC 8011 §5.4.15, CUPS extensions)
CANCEL_JOB = 0x0008
GET_JOB_ATTRIBUTES = 0x0009
GET_PRINTER_ATTRIBUTES = 0x000B

# value tags
_OPERATION, _END = 0x01, 0x03
_INTEGER, _BOOLEAN, _ENUM = 0x21, 0x22, 0x23
_TEXT, _NAME, _KEYWORD, _URI, _CHARSET, _LANGUAGE = 0x41, 0x42, 0x44, 0x45, 0x47, 0x48
_TIMEOUT = 10  # seconds per request: a hung cupsd must not hang the staff's terminal

_ids = itertools.count(1)

# job-state (RFC 8011 §5.3.7)
JOB_STATES = {3: "pending", 4: "pending-held", 5: "processing", 6: "processing-stopped",
              7: "canceled", 8: "aborted", 9: "completed"}
# printer-state
PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}


class IppError(OSError):
    """The scheduler could not be reached or answered with an error status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


NOT_FOUND = 0x0406  # client-error-not-found: the job is gone (history expired or purged)


@dataclass(frozen=True)
class Server:
    """Where cupsd listens: a unix socket path, or host and port."""

    host: str
    port: int = 631

    @property
    def local_socket(self) -> bool:
        return self.host.startswith("/")

    def __str__(self) -> str:
        return self.host if self.local_socket else f"{self.host}:{self.port}"


def _client_conf_server() -> str | None:
    for conf in (Path.home() / ".cups" / "client.conf", Path("/etc/cups/client.conf")):
        try:
            for line in conf.read_text("utf-8", "replace").splitlines():
                parts = line.split(None, 1)
                if len(parts) == 2 and parts[0].lower() == "servername":
                    return parts[1].strip()
        except OSError:
            continue
    return None


def default_server() -> Server:
    name = os.environ.get("CUPS_SERVER") or _client_conf_server()
    if not name:
        for sock in ("/run/cups/cups.sock", "/var/run/cups/cups.sock"):
            if os.path.exists(sock):
                return Server(sock)
        return Server("localhost")
    if name.startswith("/"):
        return Server(name)
    host, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
    return Server(host, int(port)) if port.isdigit() else Server(name)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


# ---------------------------------------------------------------- encoding

def _attr(tag: int, name: str, *values) -> bytes:
    out = b""
    for i, value in enumerate(values):
        raw = struct.pack(">i", value) if tag in (_INTEGER, _ENUM) else (
            bytes([1 if value else 0]) if tag == _BOOLEAN else str(value).encode("utf-8"))
        key = name.encode("ascii") if i == 0 else b""
        out += struct.pack(">BH", tag, len(key)) + key + struct.pack(">H", len(raw)) + raw
    return out


def _request(operation: int, attrs: bytes) -> bytes:
    head = struct.pack(">BBHi", 1, 1, operation, next(_ids))
    return (head + bytes([_OPERATION]) + _attr(_CHARSET, "attributes-charset", "utf-8")
            + _attr(_LANGUAGE, "attributes-natural-language", "en")
            + attrs + _attr(_NAME, "requesting-user-name", os_user()) + bytes([_END]))


def _decode(tag: int, raw: bytes):
    if tag in (_INTEGER, _ENUM) and len(raw) == 4:
        return struct.unpack(">i", raw)[0]
    if tag == _BOOLEAN and len(raw) == 1:
        return bool(raw[0])
    if 0x40 <= tag <= 0x5F:
        return raw.decode("utf-8", "replace")
    return raw


def _parse(data: bytes) -> tuple[int, dict[str, list]]:
    """Status code and the attributes of the response, every group merged (names are unique enough here)."""
    if len(data) < 8:
        raise IppError("short IPP response")
    status = struct.unpack(">H", data[2:4])[0]
    attrs: dict[str, list] = {}
    pos, name = 8, ""
    while pos < len(data):
        tag = data[pos]
        pos += 1
        if tag == _END:
            break
        if tag < 0x10:  # a new attribute group
            continue
        (nlen,) = struct.unpack(">H", data[pos:pos + 2])
        pos += 2
        if nlen:
            name = data[pos:pos + nlen].decode("ascii", "replace")
            attrs.setdefault(name, [])
        pos += nlen
        (vlen,) = struct.unpack(">H", data[pos:pos + 2])
        pos += 2
        attrs.setdefault(name, []).append(_decode(tag, data[pos:pos + vlen]))
        pos += vlen
    return status, attrs


def call(operation: int, attrs: bytes, resource: str, server: Server | None = None) -> dict[str, list]:
    server = server or default_server()
    conn: http.client.HTTPConnection = (_UnixConnection(server.host, _TIMEOUT) if server.local_socket
                                        else http.client.HTTPConnection(server.host, server.port, timeout=_TIMEOUT))
    try:
        conn.request("POST", resource, body=_request(operation, attrs), headers={"Content-Type": "application/ipp"})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise IppError(f"cannot reach the CUPS scheduler at {server}: {exc}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise IppError(f"CUPS scheduler at {server} answered HTTP {response.status}", response.status)
    status, result = _parse(body)
    if status >= 0x0400:
        message = (result.get("status-message") or [""])[0]
        raise IppError(f"CUPS scheduler at {server}: IPP status 0x{status:04x} {message}".strip(), status)
    return result


def _printer_uri(queue: str) -> str:
    return f"ipp://localhost/printers/{queue}"


JOB_ATTRIBUTES = ("job-state", "job-state-reasons", "job-state-message", "job-printer-state-message",
                  "job-printer-state-reasons", "job-impressions-completed", "job-media-sheets-completed",
                  "job-printer-uri", "copies")


def get_job(job_id: int, server: Server | None = None) -> dict[str, list]:
    attrs = (_attr(_URI, "job-uri", f"ipp://localhost/jobs/{job_id}")
             + _attr(_KEYWORD, "requested-attributes", *JOB_ATTRIBUTES))
    return call(GET_JOB_ATTRIBUTES, attrs, "/jobs/", server)


PRINTER_ATTRIBUTES = ("printer-state", "printer-state-reasons", "printer-state-message", "printer-is-accepting-jobs",
                      "device-uri")


def get_printer(queue: str, server: Server | None = None) -> dict[str, list]:
    attrs = (_attr(_URI, "printer-uri", _printer_uri(queue))
             + _attr(_KEYWORD, "requested-attributes", *PRINTER_ATTRIBUTES))
    return call(GET_PRINTER_ATTRIBUTES, attrs, f"/printers/{queue}", server)


def cancel_job(job_id: int, server: Server | None = None, *, purge: bool = True) -> None:
    """Cancel the job; `purge` also drops its files and history at once (CUPS purge-job), so a job that
    did not print leaves nothing in the spool even on a CUPS that preserves job files."""
    attrs = _attr(_URI, "job-uri", f"ipp://localhost/jobs/{job_id}")
    if purge:
        attrs += _attr(_BOOLEAN, "purge-job", True)
    call(CANCEL_JOB, attrs, "/jobs/", server)
