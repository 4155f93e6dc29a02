"""Real servers on 127.0.0.1 for the delivery tests: an SMTP server (aiosmtpd) that keeps every
message, and an HTTP server (http.server) that keeps every POSTed JSON body and can answer 500."""

from __future__ import annotations

import email
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpServer:
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        self.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp_server():
    from aiosmtpd.controller import Controller

    server = SmtpServer(free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    yield server
    controller.stop()


@dataclass
class WebhookServer:
    url: str
    posts: list[dict] = field(default_factory=list)
    failing: bool = False  # answer 500 and keep nothing

    def texts(self) -> list[str]:
        return [post["text"] for post in self.posts]


@pytest.fixture(scope="module")
def webhook_server():
    state = WebhookServer("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.failing:
                self.send_response(500)
            else:
                state.posts.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/services/T000/B000/secret"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
