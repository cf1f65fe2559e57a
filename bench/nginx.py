"""A private nginx on a loopback port, serving a folder read-only (tests and the fleet benchmark).

The configuration is the one docs/distribution.md recommends for the
exporter (dot files denied, no listing, PUT only under /fleet/), written into
its own prefix in a temp folder so several runs can run at once. Optional
TLS with a certificate the caller made.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Nginx:
    prefix: Path
    www: Path  # served at /w/ (read-only, dot files denied)
    fleet: Path  # /fleet/: GET and PUT of station status files
    port: int
    tls_port: int | None
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://localhost:{self.tls_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def config(prefix: Path, www: Path, fleet: Path, port: int, tls: tuple[Path, Path, int] | None) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""  # the store is 0700: the worker must be its owner
    temp = "".join(f"  {kind}_temp_path {prefix}/tmp/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    locations = f'''
    location /w/ {{
      alias {www}/;
      autoindex off;
      location ~ /\\. {{ deny all; }}          # store/.incoming, .lock: never served
      limit_except GET {{ deny all; }}
    }}
    location /slow/ {{
      alias {www}/;
      limit_rate 2k;                          # a slow server, for the timeout test
    }}
    location /err500/ {{ return 500; }}
    location /fleet/ {{
      alias {fleet}/;
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw;
      client_max_body_size 64k;
      limit_except GET PUT {{ deny all; }}
    }}
'''
    tls_server = ""
    if tls:
        cert, key, tls_port = tls
        tls_server = f'''
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    server_name localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
{locations}
  }}'''
    return f'''{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {prefix}/access.log;
{temp}  types {{ application/json json; application/pdf pdf; text/plain sig; }}
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
{locations}
  }}{tls_server}
}}
'''


def start(prefix: Path, www: Path | None = None, *, tls: tuple[Path, Path] | None = None) -> Nginx:
    """Start nginx; raises FileNotFoundError when it is not installed, RuntimeError when it does not come up."""
    if not Path(NGINX).exists():
        raise FileNotFoundError(NGINX)
    prefix.mkdir(parents=True, exist_ok=True)
    www = www or prefix / "www"
    fleet = prefix / "fleet"
    for d in (www, fleet, *(prefix / "tmp" / k for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))):
        d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    tls_port = free_port() if tls else None
    conf = prefix / "nginx.conf"
    conf.write_text(config(prefix, www, fleet, port, (tls[0], tls[1], tls_port) if tls else None))
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {proc.stderr.read().decode(errors='replace')[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Nginx(prefix, www, fleet, port, tls_port, proc)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start listening within 15 s")
