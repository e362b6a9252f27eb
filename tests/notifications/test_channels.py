"""Channel safety: addresses embedding a private IPv4 address are refused for webhooks,
and an SMTP server that never answers cannot hold the monitor's step."""

import socket
import threading
import time

import pytest

from tethys_compute.notifications import channels
from tethys_compute.notifications.channels import SendFailed


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1",          # NAT64 well-known prefix (RFC 6052) of 127.0.0.1
    "64:ff9b::a9fe:a9fe",       # ... of 169.254.169.254, cloud metadata
    "64:ff9b:1::a00:1",         # local-use NAT64 prefix (RFC 8215) of 10.0.0.1
    "2002:7f00:1::1",           # 6to4 (RFC 3056) of 127.0.0.1
    "2002:c0a8:101::1",         # 6to4 of 192.168.1.1
    "::ffff:127.0.0.1",         # IPv4-mapped
    "127.0.0.1", "::1", "10.1.2.3", "169.254.169.254",
])
def test_addresses_reaching_private_ipv4_are_refused(address):
    with pytest.raises(SendFailed, match="not a public address"):
        channels._refuse_private(address, 80)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "8.8.8.8",
                                     "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    channels._refuse_private(address, 80)


@pytest.fixture
def silent_smtp():
    """A TCP server on 127.0.0.1 that accepts connections and never sends its greeting."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_silent_smtp_server_without_email_timeout_is_given_up_on(settings, silent_smtp,
                                                                   monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent_smtp
    settings.EMAIL_TIMEOUT = None  # Django's default: no timeout at all
    monkeypatch.setattr(channels, "EMAIL_TIMEOUT_FALLBACK", 1.0)
    started = time.monotonic()
    with pytest.raises(SendFailed, match="email"):
        channels.send_email("alice@example.org", {"event": "finished", "job": {
            "id": 1, "name": "x", "status": "COM", "status_display": "Complete", "app": "a",
            "status_message": "",
            "url": "https://example.org/1/"}, "attempt": 1, "detail": "", "time": "now"})
    assert time.monotonic() - started < 10
