"""Real places for notifications to arrive: an HTTP server for apprise's
``json://`` channel and an SMTP server for ``mailto://``."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class HttpReceiver:
    """Collects the JSON bodies posted to it; answers ``status``."""

    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        """The apprise URL that posts here."""
        return f"json://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.arrived.set()
        return web.Response(status=self.status, text="noted")

    @property
    def titles(self) -> list[str]:
        return [str(body.get("title", "")) for body in self.bodies]


@asynccontextmanager
async def http_receiver(status: int = 200) -> AsyncIterator[HttpReceiver]:
    """An HTTP receiver on a free local port, for one test."""
    receiver = HttpReceiver(status)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    receiver.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield receiver
    finally:
        await runner.cleanup()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class SmtpReceiver:
    """Collects the mails sent to it."""

    port: int
    mailbox: _Mailbox

    @property
    def url(self) -> str:
        """The apprise URL that mails here, without TLS or login."""
        return (
            f"mailto://127.0.0.1:{self.port}?from=flowguard@example.com"
            "&to=oncall@example.com&mode=insecure"
        )

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.mailbox.messages]


@contextmanager
def smtp_receiver() -> Any:
    """An SMTP server on a free local port, for one test."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpReceiver(port, mailbox)
    finally:
        controller.stop()
