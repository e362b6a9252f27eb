"""Exactly once across two monitors racing as real processes, on SQLite (a shared file)
and PostgreSQL: each runs real monitor cycles (`monitor.run_cycle`, whose last step sends
notifications) against the same database, emails to a file backend, webhooks to a real
receiver on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from tests.testapp.app import TestApp
from tethys_compute.notifications.models import NotificationDelivery

from .conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]

MONITOR = r"""
import json, os, sys, time
import django
django.setup()
from django.test.utils import override_settings
from django.conf import settings
go, extra = sys.argv[1], json.loads(sys.argv[2])
override_settings(
    EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
    EMAIL_FILE_PATH=sys.argv[3],
    TETHYS_COMPUTE={**settings.TETHYS_COMPUTE, **extra},
).enable()
from tethys_compute.monitor import run_cycle
open(go + "." + str(os.getpid()), "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
for _ in range(4):
    run_cycle()
"""


def spawn(go, mail_dir, extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.settings")
    if connection.vendor == "postgresql":
        env["PGDATABASE"] = connection.settings_dict["NAME"]
    else:
        env["TETHYS_TEST_SQLITE_FILE"] = connection.settings_dict["NAME"]
    return subprocess.Popen(
        [sys.executable, "-c", MONITOR, str(go), json.dumps(extra), str(mail_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def race(tmp_path, extra, monitors=2):
    go, mail_dir = tmp_path / "go", tmp_path / "mail"
    mail_dir.mkdir()
    processes = [spawn(go, mail_dir, extra) for _ in range(monitors)]
    deadline = time.time() + 120
    while len(list(tmp_path.glob("go.*"))) < monitors:
        assert time.time() < deadline, "monitors did not start"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    go.touch()
    for process in processes:
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    subjects = []
    for path in mail_dir.iterdir():
        subjects += [line for line in path.read_text().splitlines()
                     if line.startswith("Subject:")]
    return subjects


def make_finished_jobs(users, per_user, receiver):
    for user in users:
        for i in range(per_user):
            job = TestApp.get_job_manager().create_job(
                f"{user.username} {i}", user, job_type="BASIC",
                notify=["email", receiver.url])
            job.save()
            job.execute()
            job.status = "Complete"


@pytest.fixture
def users(django_user_model):
    return [django_user_model.objects.create_user(f"u{i}", f"u{i}@example.org", "pw")
            for i in range(4)]


BASE = {"NOTIFY_WEBHOOK_SECRET": SECRET, "NOTIFY_BASE_URL": "https://jobs.example.org",
        "NOTIFY_WEBHOOK_ALLOW_PRIVATE": True}


@pytest.mark.parametrize("round_", range(2))
def test_two_monitors_send_each_event_once(users, receiver, tmp_path, round_):
    make_finished_jobs(users, 10, receiver)
    subjects = race(tmp_path, {**BASE, "NOTIFY_RATE_LIMIT": 0})
    ids = Counter(body["id"] for body in receiver.bodies())
    assert len(ids) == 40 and set(ids.values()) == {1}, ids.most_common(3)
    assert all(ok for _h, _b, ok in receiver.requests)
    assert len(subjects) == 40 and len(set(subjects)) == 40
    states = Counter(NotificationDelivery.objects.values_list("state", "tries"))
    assert states == {("sent", 1): 80}


def test_two_monitors_keep_each_users_rate_limit(users, receiver, tmp_path):
    """Racing monitors together send no more than each user's limit. (Removing the lock
    on the user's row did not make this fail: with the same due list, the conditional
    claim of each row already orders the two; the lock is for due lists that differ.)"""
    make_finished_jobs(users, 6, receiver)  # 12 deliveries per user
    race(tmp_path, {**BASE, "NOTIFY_RATE_LIMIT": 5})
    sent = Counter(NotificationDelivery.objects.filter(state="sent")
                   .values_list("user_id", flat=True))
    dropped = Counter(NotificationDelivery.objects.filter(state="dropped")
                      .values_list("user_id", flat=True))
    assert sent == {user.pk: 5 for user in users}
    assert dropped == {user.pk: 7 for user in users}
    assert len(receiver.requests) <= 20
