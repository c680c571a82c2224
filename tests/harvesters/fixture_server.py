"""A real HTTP server on 127.0.0.1 serving scripted responses, for harvester tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None,
             delay: float = 0.0) -> Reply:
        return cls(status, json.dumps(payload).encode(),
                   {"Content-Type": "application/json", **(headers or {})}, delay)

    @classmethod
    def file(cls, path: Path, content_type: str = "application/octet-stream") -> Reply:
        return cls(200, path.read_bytes(), {"Content-Type": content_type})


Responder = Reply | Callable[[dict[str, list[str]]], Reply]
Route = Responder | list[Responder]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts in tests) are expected; stay quiet about them."""


class FixtureServer:
    """Routes map a path to a Reply, a list of Replies served in turn (the last one repeats),
    or a function of the query string (plus a POSTed form's fields). Every request is logged
    in ``requests``; POSTed forms also in ``posts``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.posts: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                """A form POST is answered like a GET of the URL plus the form's fields."""
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode("utf-8") if length else ""
                server.posts.append((self.path, form))
                self.do_GET(extra=parse_qs(form))

            def do_GET(self, extra: dict[str, list[str]] | None = None) -> None:
                server.requests.append(self.path)
                parts = urlsplit(self.path)
                route = server.routes.get(parts.path)
                if isinstance(route, list):
                    route = route.pop(0) if len(route) > 1 else route[0]
                if route is None:
                    reply = Reply.json({"message": "Not found"}, 404)
                elif isinstance(route, Reply):
                    reply = route
                else:
                    reply = route({**parse_qs(parts.query), **(extra or {})})
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FixtureServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
