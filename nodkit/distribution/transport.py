"""Reading the exporter's store from upstream: a static HTTP(S) server or a mounted share.

Whatever serves the files is not trusted with their content (the manifest
signature and the hashes are), but it is trusted to answer in bounded time
and size: every read has a byte cap (the manifest's size for a list, small
fixed caps for LATEST and the signature) and a timeout, so a hostile or
broken server cannot fill the disk or hold a station forever (TUF's
"endless data" and "slow retrieval" attacks). TLS certificates are always
verified, against `ca_bundle` when the municipality runs its own CA.
Credentials come from files or the environment, never from nodkit.toml.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nodkit.config.settings import StationConfig
from nodkit.errors import NodkitError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
USER_ENV, PASSWORD_ENV = "NODKIT_UPSTREAM_USER", "NODKIT_UPSTREAM_PASSWORD"


class UpstreamError(NodkitError):
    """Upstream did not deliver (unreachable, TLS, HTTP status, timeout, too big, cut short). Retry later."""

    exit_code = 14

    def __init__(self, message: str, *, kind: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.kind = kind  # unreachable | tls | http | timeout | too-big | truncated | missing


@dataclass
class Fetched:
    data: bytes
    url: str


class Upstream:
    """One sync's connection settings; counts the bytes it received."""

    def __init__(self, station: StationConfig, *, deadline: float | None = None):
        self.station = station
        self.base = station.upstream
        self.is_http = "://" in self.base
        self.bytes_received = 0
        self.deadline = deadline if deadline is not None else time.monotonic() + station.sync_deadline_seconds
        self._context = self._tls_context() if self.base.startswith("https://") else None
        self._auth = self._basic_auth() if self.is_http else None

    # -- settings ---------------------------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        s = self.station
        try:
            context = ssl.create_default_context(cafile=s.ca_bundle)  # verification and host names: always on
            if s.client_cert:
                context.load_cert_chain(s.client_cert, s.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError(f"TLS settings unusable ({s.ca_bundle or 'system CAs'}"
                                f"{', ' + s.client_cert if s.client_cert else ''}): {exc}", kind="tls") from None
        return context

    def _basic_auth(self) -> str | None:
        user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
        path = self.station.credentials_file
        if path:
            try:
                if os.name == "posix" and Path(path).stat().st_mode & 0o077:
                    log.warning("%s: readable by others; make it 0600 (chmod 600)", path)
                text = Path(path).read_text("utf-8").strip()
            except OSError as exc:
                raise UpstreamError(f"{path}: cannot read the upstream credentials: {exc.strerror}",
                                    kind="unreachable") from None
            user, _, password = text.partition(":")
        if not user:
            return None
        return "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()

    def where(self, relpath: str) -> str:
        if self.is_http:
            return self.base.rstrip("/") + "/" + urllib.parse.quote(relpath, safe="/")
        return str(Path(self.base) / relpath)

    # -- reading ----------------------------------------------------------------------------------------
    def get(self, relpath: str, max_bytes: int) -> bytes:
        """The file's bytes; UpstreamError if it is missing, bigger than max_bytes, slow or cut short."""
        url = self.where(relpath)
        if time.monotonic() > self.deadline:
            raise UpstreamError(f"{url}: sync took longer than sync_deadline_seconds = "
                                f"{self.station.sync_deadline_seconds:g}", kind="timeout")
        data = self._get_http(url, max_bytes) if self.is_http else self._get_file(url, max_bytes)
        self.bytes_received += len(data)
        return data

    def _read_capped(self, stream, url: str, max_bytes: int, expected: int | None) -> bytes:
        parts, size = [], 0
        while True:
            if time.monotonic() > self.deadline:
                raise UpstreamError(f"{url}: too slow; gave up after sync_deadline_seconds = "
                                    f"{self.station.sync_deadline_seconds:g}", kind="timeout")
            chunk = stream.read(min(CHUNK, max_bytes + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise UpstreamError(f"{url}: more than the {max_bytes} bytes expected; refused", kind="too-big")
        if expected is not None and size != expected:
            raise UpstreamError(f"{url}: connection ended after {size} of {expected} bytes", kind="truncated")
        return b"".join(parts)

    def _get_http(self, url: str, max_bytes: int) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "nodkit-station", "Cache-Control": "no-cache"})
        if self._auth:
            request.add_unredirected_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.station.timeout_seconds, context=self._context) as resp:
                length = resp.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                if expected is not None and expected > max_bytes:
                    raise UpstreamError(f"{url}: {expected} bytes announced, at most {max_bytes} expected; refused",
                                        kind="too-big")
                return self._read_capped(resp, url, max_bytes, expected)
        except UpstreamError:
            raise
        except urllib.error.HTTPError as exc:
            kind = "missing" if exc.code == 404 else "http"
            raise UpstreamError(f"{url}: HTTP {exc.code} {exc.reason}", kind=kind) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLError):
                raise UpstreamError(f"{url}: TLS error: {getattr(reason, 'verify_message', None) or reason}",
                                    kind="tls", hint="set [station] ca_bundle to the municipal CA's PEM file") from None
            if isinstance(reason, TimeoutError):
                raise UpstreamError(f"{url}: no answer within timeout_seconds = {self.station.timeout_seconds:g}",
                                    kind="timeout") from None
            raise UpstreamError(f"{url}: unreachable: {reason}", kind="unreachable") from None
        except TimeoutError:
            raise UpstreamError(f"{url}: no answer within timeout_seconds = {self.station.timeout_seconds:g}",
                                kind="timeout") from None
        except ssl.SSLError as exc:
            raise UpstreamError(f"{url}: TLS error: {exc}", kind="tls") from None
        except (ConnectionError, OSError) as exc:  # reset or cut mid-body (http.client.IncompleteRead is not OSError)
            raise UpstreamError(f"{url}: connection failed: {exc}", kind="unreachable") from None
        except Exception as exc:  # http.client.IncompleteRead, RemoteDisconnected, BadStatusLine ...
            raise UpstreamError(f"{url}: broken answer: {type(exc).__name__}", kind="truncated") from None

    def _get_file(self, path: str, max_bytes: int) -> bytes:
        try:
            with open(path, "rb") as fh:
                return self._read_capped(fh, path, max_bytes, None)
        except FileNotFoundError:
            raise UpstreamError(f"{path}: missing on the share", kind="missing") from None
        except OSError as exc:
            raise UpstreamError(f"{path}: share unreadable: {exc.strerror}", kind="unreachable") from None

    # -- writing (the station's status report) ----------------------------------------------------------
    def put(self, target: str, data: bytes) -> None:
        """HTTP PUT (WebDAV) of `data` to the URL `target`."""
        request = urllib.request.Request(target, data=data, method="PUT",
                                         headers={"Content-Type": "application/json", "User-Agent": "nodkit-station"})
        if self._auth:
            request.add_unredirected_header("Authorization", self._auth)
        context = self._context or (self._tls_context() if target.startswith("https://") else None)
        try:
            with urllib.request.urlopen(request, timeout=self.station.timeout_seconds, context=context) as resp:
                resp.read(1024)
        except urllib.error.HTTPError as exc:
            raise UpstreamError(f"{target}: HTTP {exc.code} {exc.reason}", kind="http") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UpstreamError(f"{target}: upload failed: {getattr(exc, 'reason', exc)}", kind="unreachable") from None
