"""Webhooks to a real HTTP receiver on 127.0.0.1: JSON signed with HMAC-SHA256, retried
with exponential backoff on 500 and timeouts, the timeout bounded."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.testapp.app import TestApp
from tethys_compute.notifications import monitor_step
from tethys_compute.notifications.models import NotificationDelivery

pytestmark = pytest.mark.django_db(transaction=True)


def finished_job(user, notify):
    job = TestApp.get_job_manager().create_job("Hooked", user, job_type="BASIC",
                                               notify=notify)
    job.save()
    job.execute()
    job.status = "Complete"
    return job


def test_the_receiver_gets_a_signed_json_document(user, receiver, notify_settings):
    job = finished_job(user, [receiver.url])
    assert monitor_step()["sent"] == 1
    ((headers, body, signature_ok),) = receiver.requests
    assert signature_ok
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Tethys-Event"] == "finished"
    expected = hmac.new(b"receiver-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Tethys-Signature"] == f"sha256={expected}"
    document = json.loads(body)
    assert document["event"] == "finished" and document["attempt"] == 1
    assert document["job"]["id"] == job.pk and document["job"]["status"] == "COM"
    assert document["job"]["url"] == f"https://jobs.example.org/apps/test_app/jobs/{job.pk}/"
    assert headers["X-Tethys-Delivery"] == str(document["id"])
    monitor_step()
    assert len(receiver.requests) == 1


def test_a_per_endpoint_secret_signs_its_endpoints_requests(user, receiver, notify_settings):
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_WEBHOOK_SECRET": "not-the-receivers",
                                      "NOTIFY_WEBHOOK_SECRETS": {"lab": "receiver-secret"}}
    finished_job(user, [{"url": receiver.url, "secret": "lab"}])
    monitor_step()
    assert [ok for _h, _b, ok in receiver.requests] == [True]


def test_500s_are_retried_with_doubling_delays_until_success(user, receiver, notify_settings):
    receiver.script = [500, 502]
    finished_job(user, [receiver.url])
    now = timezone.now()
    assert monitor_step(now)["retrying"] == 1
    delivery = NotificationDelivery.objects.get()
    assert delivery.state == "pending" and delivery.tries == 1
    assert delivery.next_try_at == now + timedelta(seconds=30)
    assert "HTTP 500" in delivery.last_error
    assert monitor_step(now + timedelta(seconds=29))["sent"] == 0  # not due yet
    assert len(receiver.requests) == 1
    later = now + timedelta(seconds=30)
    assert monitor_step(later)["retrying"] == 1
    delivery.refresh_from_db()
    assert delivery.next_try_at == later + timedelta(seconds=60)
    assert monitor_step(later + timedelta(seconds=60))["sent"] == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.tries, delivery.last_error) == ("sent", 3, "")
    assert len(receiver.requests) == 3 and all(ok for _h, _b, ok in receiver.requests)
    ids = {json.loads(body)["id"] for _h, body, _ok in receiver.requests}
    assert ids == {delivery.pk}  # one delivery id: the receiver can deduplicate


def test_a_slow_receiver_is_given_up_on_within_the_timeout(user, receiver, notify_settings):
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_WEBHOOK_TIMEOUT": 0.5}
    receiver.script = [("sleep", 5)]
    finished_job(user, [receiver.url])
    started = time.monotonic()
    stats = monitor_step()
    assert time.monotonic() - started < 4
    assert stats["retrying"] == 1
    delivery = NotificationDelivery.objects.get()
    assert delivery.state == "pending" and "timed out" in delivery.last_error


def test_4xx_and_redirects_fail_without_retry(user, receiver, notify_settings):
    receiver.script = [404]
    finished_job(user, [receiver.url])
    assert monitor_step()["failed"] == 1
    assert NotificationDelivery.objects.get().state == "failed"


def test_after_the_last_try_the_delivery_fails(user, receiver, notify_settings):
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE, "NOTIFY_MAX_TRIES": 2}
    receiver.script = [500, 500, 500]
    finished_job(user, [receiver.url])
    now = timezone.now()
    monitor_step(now)
    assert monitor_step(now + timedelta(hours=1))["failed"] == 1
    assert NotificationDelivery.objects.get().state == "failed"
    assert len(receiver.requests) == 2


def test_no_secret_means_nothing_is_sent_unsigned(user, receiver, notify_settings):
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_WEBHOOK_SECRET": None}
    finished_job(user, [receiver.url])
    monitor_step()
    assert receiver.requests == []
    assert "no webhook secret" in NotificationDelivery.objects.get().last_error


def test_a_host_no_longer_allowed_is_not_contacted(user, receiver, notify_settings):
    finished_job(user, [receiver.url])
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_WEBHOOK_ALLOWED_HOSTS": ["hooks.example.org"]}
    monitor_step()
    assert receiver.requests == []
    assert NotificationDelivery.objects.get().state == "failed"


def test_a_step_never_raises_into_the_monitor(user, notify_settings):
    job = finished_job(user, ["http://127.0.0.1:9/unreachable"])  # discard port: refused
    stats = monitor_step()
    assert stats["retrying"] == 1
    assert job.notifications.get().deliveries.get().state == "pending"


def test_private_addresses_are_refused_unless_allowed(user, receiver, notify_settings):
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_WEBHOOK_ALLOW_PRIVATE": False}
    finished_job(user, [receiver.url, receiver.url.replace("127.0.0.1", "localhost")])
    assert monitor_step()["failed"] == 2
    assert receiver.requests == []
    errors = set(NotificationDelivery.objects.values_list("last_error", flat=True))
    assert all("not a public address" in e for e in errors), errors


def test_a_receiver_dribbling_its_answer_cannot_hold_the_monitor(user, notify_settings):
    # Found by trial: the timeout bounded each read only, so a receiver (any user may set
    # a webhook URL in their preference) sending one byte every 0.3 s held the monitor's
    # cycle, and every other job's status, for as long as it liked.
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def dribble():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                stop.wait(0.3)

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_WEBHOOK_TIMEOUT": 1}
    finished_job(user, [f"http://127.0.0.1:{server.getsockname()[1]}/hook"])
    started = time.monotonic()
    try:
        monitor_step()
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        server.close()
    assert elapsed < 8, f"one webhook held the monitor for {elapsed:.1f} s"
    delivery = NotificationDelivery.objects.get()
    assert delivery.state == "pending" and "timed out" in delivery.last_error
