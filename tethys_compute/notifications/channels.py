"""Sending one delivery: the text, the link back to the job, email and webhooks.

Each sender returns ``None`` on success or raises :class:`SendFailed` (``retry`` tells
whether another try may succeed)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.urls import NoReverseMatch, reverse

from .. import status as st
from ..conf import get_config
from .spec import host_allowed

SIGNATURE_HEADER = "X-Tethys-Signature"
USER_AGENT = "tethys-compute-notifications"
MAX_ANSWER = 64 * 1024

SUBJECTS = {
    "finished": "finished",
    "failed": "failed",
    "held": "is held",
    "retried": "is being retried",
    "no_progress": "reported no progress",
    "waiting": "is still waiting to start",
}


class SendFailed(Exception):
    def __init__(self, message: str, *, retry: bool):
        super().__init__(message)
        self.retry = retry


def job_url(job) -> str:
    """The absolute URL of ``job``'s page: ``NOTIFY_JOB_URL`` (a format string with
    ``{id}`` and ``{label}``; default: the job's admin page) joined to
    ``NOTIFY_BASE_URL`` (default: ``https://`` and the current ``Site``'s domain when
    ``django.contrib.sites`` is installed) when it is a path."""
    config = get_config()
    pattern = config["NOTIFY_JOB_URL"]
    if pattern:
        url = pattern.format(id=job.pk, label=job.label)
    else:
        try:
            url = reverse("admin:tethys_compute_tethysjob_change", args=[job.pk])
        except NoReverseMatch:
            return ""
    if not url.startswith("/"):
        return url
    base = config["NOTIFY_BASE_URL"]
    if not base and apps.is_installed("django.contrib.sites"):
        from django.contrib.sites.models import Site

        base = f"https://{Site.objects.get_current().domain}"
    return (base or "").rstrip("/") + url


def payload(delivery, now) -> dict:
    """The JSON document a webhook receives (also the facts of an email)."""
    note, job = delivery.notification, delivery.notification.job
    return {
        "id": delivery.pk,
        "event": note.event,
        "attempt": note.attempt,
        "time": now.isoformat(),
        "detail": note.detail,
        "job": {
            "id": job.pk,
            "name": job.name,
            "app": job.label,
            "status": job._status,
            "status_display": job._other_status or st.STATUS_DISPLAY.get(job._status, ""),
            "status_message": job.status_message or "",
            "progress": job.progress,
            "url": job_url(job),
        },
        "user": delivery.user.get_username(),
    }


def send(delivery, now) -> None:
    """Send ``delivery`` (its notification, job and user loaded). :raises SendFailed:"""
    document = payload(delivery, now)
    if delivery.channel == "email":
        send_email(delivery.target, document)
    else:
        send_webhook(delivery.target, delivery.secret_name, document)


def email_text(document: dict) -> tuple[str, str]:
    """``(subject, body)`` of the email for ``document``."""
    job = document["job"]
    subject = f'[{job["app"]}] Job "{job["name"]}" {SUBJECTS[document["event"]]}'
    lines = [
        f'Job "{job["name"]}" (#{job["id"]}) {SUBJECTS[document["event"]]}.',
        f'Status: {job["status_display"]}',
    ]
    if document["detail"]:
        lines.append(f'Detail: {document["detail"]}')
    if job["status_message"] and job["status_message"] != document["detail"]:
        lines.append(f'Message: {job["status_message"]}')
    if job["url"]:
        lines += ["", f'See the job: {job["url"]}']
    lines += ["", "You receive this because notifications are on for this job, its app "
                  "or your account."]
    return " ".join(subject.split())[:200], "\n".join(lines)


#: Seconds an email backend's connection may wait on the mail server when the project
#: leaves Django's ``EMAIL_TIMEOUT`` at its default (``None``: wait forever), so a mail
#: server that stops answering cannot hold the monitor's notification step.
EMAIL_TIMEOUT_FALLBACK = 30.0


def send_email(address: str, document: dict) -> None:
    """Send ``document``'s text to ``address`` through the project's email backend, its
    connection bounded by ``EMAIL_TIMEOUT`` or, when that is unset,
    :data:`EMAIL_TIMEOUT_FALLBACK` seconds. :raises SendFailed: no address (not
    retried), or the backend failed (retried)."""
    if not address:
        raise SendFailed("the user has no email address", retry=False)
    subject, body = email_text(document)
    sender = get_config()["NOTIFY_FROM_EMAIL"] or settings.DEFAULT_FROM_EMAIL
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or EMAIL_TIMEOUT_FALLBACK
    try:
        # Backends take unknown keyword arguments; SMTP's uses ``timeout``.
        connection = get_connection(timeout=timeout)
        EmailMessage(subject, body, sender, [address], connection=connection).send()
    except Exception as exc:  # noqa: BLE001 - the backend's errors (SMTP, socket)
        raise SendFailed(f"email: {exc!r}"[:1000], retry=True) from exc


def _refuse_private(host: str, port: int) -> None:
    """Raise SendFailed when ``host`` resolves to any address that is not public
    (loopback, private, link-local such as cloud metadata, shared, reserved)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise SendFailed(f"webhook host {host!r} does not resolve: {exc}", retry=True) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not _public(address):
            raise SendFailed(
                f"webhook host {host!r} resolves to {address}, not a public address "
                "(NOTIFY_WEBHOOK_ALLOW_PRIVATE is off)", retry=False)


#: IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it through a
#: translator: NAT64's well-known prefix (RFC 6052) and its local-use prefix (RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _public(address) -> bool:
    """Whether ``address`` (an ``ipaddress`` address) and every IPv4 address it embeds
    (IPv4-mapped, 6to4, Teredo, NAT64) are global: a public IPv6 address may lead to a
    private IPv4 one through a translator."""
    if not address.is_global:
        return False
    if address.version == 6:
        embedded = [address.ipv4_mapped, address.sixtofour,
                    *(address.teredo or ())]
        if any(address in network for network in _NAT64):
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(inner.is_global for inner in embedded if inner is not None)
    return True


class _Deadline:
    """The whole of one webhook request (connect, headers, answer) bounded in time: when
    the deadline passes, the request's socket is shut down, which ends any read or write
    in progress. ``timeout`` alone bounds each socket operation only, and a receiver
    sending one byte at a time could hold the monitor's cycle for as long as it liked."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._timers: list[threading.Timer] = []

    def arm(self, sock) -> None:
        def cut():
            self.expired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        timer = threading.Timer(self.seconds, cut)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()

    def handlers(self):
        deadline = self

        class _HTTPConnection(http.client.HTTPConnection):
            def connect(self):
                super().connect()
                deadline.arm(self.sock)

        class _HTTPSConnection(http.client.HTTPSConnection):
            def connect(self):
                super().connect()
                deadline.arm(self.sock)

        class _HTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(_HTTPConnection, req)

        class _HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(_HTTPSConnection, req, context=self._context)

        return _HTTPHandler, _HTTPSHandler


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer, never followed (it could point anywhere)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Tethys-Signature`` value of ``body``: ``sha256=`` and the hex HMAC."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(url: str, secret_name: str, document: dict) -> None:
    config = get_config()
    secret = ((config["NOTIFY_WEBHOOK_SECRETS"] or {}).get(secret_name) if secret_name
              else config["NOTIFY_WEBHOOK_SECRET"])
    if not secret:
        raise SendFailed("no webhook secret configured (NOTIFY_WEBHOOK_SECRET)", retry=False)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host_allowed(host):
        raise SendFailed(f"host {host!r} is not in NOTIFY_WEBHOOK_ALLOWED_HOSTS", retry=False)
    if not config["NOTIFY_WEBHOOK_ALLOW_PRIVATE"]:
        _refuse_private(host, parts.port or (443 if parts.scheme == "https" else 80))
    body = json.dumps(document, sort_keys=True).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tethys-Event": document["event"],
        "X-Tethys-Delivery": str(document["id"]),
        SIGNATURE_HEADER: signature(secret, body),
    })
    timeout = config["NOTIFY_WEBHOOK_TIMEOUT"]
    # The whole request, connect to last byte, takes at most twice the timeout.
    deadline = _Deadline(2 * timeout)
    opener = urllib.request.build_opener(_NoRedirects, *deadline.handlers())
    try:
        with opener.open(request, timeout=timeout) as answer:
            answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        exc.close()
        retry = exc.code >= 500 or exc.code in (408, 425, 429)
        raise SendFailed(f"webhook answered HTTP {exc.code}", retry=retry) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        if deadline.expired:
            raise SendFailed(f"webhook: no full answer within {2 * timeout} s "
                             "(timed out)", retry=True) from None
        reason = getattr(exc, "reason", exc)
        raise SendFailed(f"webhook: {reason!r}"[:1000], retry=True) from None
    finally:
        deadline.cancel()
    if deadline.expired:  # the answer was cut short: it did not come in time
        raise SendFailed(f"webhook: no full answer within {2 * timeout} s (timed out)",
                         retry=True)

