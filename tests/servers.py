"""``flowguard serve`` in a subprocess, for end-to-end tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

_PORT_LINES = {
    "otlp_grpc": re.compile(r"otlp grpc listening on [^:]+:(\d+)"),
    "otlp_http": re.compile(r"otlp http listening on [^:]+:(\d+)"),
    "http": re.compile(r"ui and api listening on http://[^:]+:(\d+)"),
}


class Server:
    """A running ``flowguard serve``; its ports are read from its log."""

    def __init__(self, database_url: str | None, **env: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="flowguard-serve-"))
        self.log_path = self.root / "serve.log"
        self.env = {
            **os.environ,
            "FLOWGUARD_DATA_DIR": str(self.root / "data"),
            "FLOWGUARD_OTLP_GRPC_PORT": "0",
            "FLOWGUARD_OTLP_HTTP_PORT": "0",
            "FLOWGUARD_HTTP_PORT": "0",
            # Rollup tables refresh every second, so tests wait little.
            "FLOWGUARD_ROLLUP_REFRESH_S": "1",
            # The OTLP examples are dated 2018: keep them, since retention
            # runs with every refresh. Retention tests set their own.
            "FLOWGUARD_RETENTION_LOGS": "1000w",
            "FLOWGUARD_RETENTION_METRICS": "1000w",
            **env,
        }
        if database_url is not None:
            self.env["FLOWGUARD_DATABASE_URL"] = database_url
        else:
            self.env.pop("FLOWGUARD_DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}

    def start(self, timeout_s: float = 60.0) -> Server:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flowguard", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log
            if "flowguard ready" in text:
                for name, pattern in _PORT_LINES.items():
                    match = pattern.search(text)
                    assert match, f"no {name} port in log:\n{text}"
                    self.ports[name] = int(match[1])
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"flowguard serve exited:\n{text}")
            time.sleep(0.05)
        raise RuntimeError(f"flowguard serve did not start:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['otlp_grpc']}"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_http']}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def terminate(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP request; return status, headers and body, errors included."""
    request = urllib.request.Request(
        url, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str) -> tuple[int, Any]:
    status, _, body = post(url, b"", method="GET")
    return status, json.loads(body)


SHARED = Path(__file__).resolve().parents[2] / "shared"
OTLP_EXAMPLES = SHARED / "data" / "otlp-examples"

JSON_HEADERS = {"Content-Type": "application/json"}
PROTOBUF_HEADERS = {"Content-Type": "application/x-protobuf"}
