"""Shared helpers of the notification tests: a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SECRET = "receiver-secret"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that checks the HMAC signature of every request.

    ``script`` is a list of answers for the next requests: an HTTP status (int) or
    ``("sleep", seconds)``; when it is empty, requests get 200.
    """

    def __init__(self, secret=SECRET):
        self.secret = secret.encode()
        self.requests = []  # (headers dict, body bytes, signature ok)
        self.script = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(self.headers.get("X-Tethys-Signature", ""), expected)
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body, ok))
                    answer = receiver.script.pop(0) if receiver.script else 200
                if isinstance(answer, tuple):
                    time.sleep(answer[1])
                    answer = 200
                try:
                    self.send_response(answer if ok else 401)
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        with self.lock:
            return [json.loads(body) for _h, body, _ok in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def notify_settings(settings):
    """Webhooks signed with the receiver's secret, links to https://jobs.example.org."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TETHYS_COMPUTE = {
        **settings.TETHYS_COMPUTE,
        "NOTIFY_WEBHOOK_SECRET": SECRET,
        "NOTIFY_BASE_URL": "https://jobs.example.org",
        "NOTIFY_JOB_URL": "/apps/{label}/jobs/{id}/",
        "NOTIFY_WEBHOOK_ALLOW_PRIVATE": True,  # the receiver is on 127.0.0.1
    }
    return settings
