"""Two real ``tethys_compute_monitor`` processes race to start the same due retries: each
retry is submitted exactly once (leases, and the start fenced to the waiting run), on
SQLite and PostgreSQL."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from tests.testapp.engine import FakeEngine
from tests.testapp.fixtures import make_jobs
from tests.testapp.live import ROOT
from tethys_compute import failure_kinds as fk
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.slow


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _monitor(engine_dir, log, **tethys_compute):
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               DJANGO_SETTINGS_MODULE="tests.testapp.live_settings",
               TESTAPP_ENGINE_DIR=str(engine_dir),
               TESTAPP_TETHYS_COMPUTE=json.dumps(tethys_compute))
    if connection.vendor == "sqlite":
        env["TETHYS_TEST_SQLITE_FILE"] = connection.settings_dict["NAME"]
    else:
        env["PGDATABASE"] = connection.settings_dict["NAME"]
    out = open(log, "w")  # noqa: SIM115 - closed by the test
    process = subprocess.Popen([sys.executable, "-m", "django", "tethys_compute_monitor",
                                "--interval", "0.05"], env=env, stdout=out,
                               stderr=subprocess.STDOUT, text=True)
    process.log, process.out = log, out
    return process


@pytest.mark.django_db(transaction=True)
def test_two_monitors_submit_each_due_retry_exactly_once(user, tmp_path, settings):
    engine_dir = tmp_path / "engine"
    settings.TESTAPP_ENGINE_DIR = str(engine_dir)
    engine = FakeEngine(engine_dir)
    jobs = make_jobs(engine, user, 40, schedulers=("alpha", "beta"), state="running",
                     max_attempts=2, retry_delay=0, attempt=1)
    monitors = [_monitor(engine_dir, tmp_path / f"monitor-{n}.log",
                         UPDATE_STATUS_INTERVAL=3600) for n in range(2)]
    try:
        # Both monitors are cycling before any retry falls due.
        _wait(lambda: all("checked" in m.log.read_text() or m.poll() is not None
                          for m in monitors), 120, "both monitors to run a cycle")
        assert all(m.poll() is None for m in monitors), [m.log.read_text() for m in monitors]
        for job in jobs:
            assert job.run_failed(fk.Failure(fk.LOST, "worker lost"))
        ids = [job.pk for job in jobs]
        _wait(lambda: TethysJob.objects.filter(pk__in=ids, attempt=2,
                                               retry_due_at__isnull=True).count() == 40
              and len(engine.submissions()) >= 40, 120, "every retry to start")
        time.sleep(1)  # a second submission of any of them would land now
    finally:
        for process in monitors:
            process.send_signal(signal.SIGTERM)
        for process in monitors:
            process.wait(60)
            process.out.close()
    logs = [m.log.read_text() for m in monitors]
    assert all(m.returncode == 0 for m in monitors), logs
    submitted = engine.submissions()
    assert sorted(submitted) == sorted(f"job-{job.pk}.2" for job in jobs), logs
    for job in TethysJob.objects.filter(pk__in=ids):
        retries = job.status_history.filter(reason__startswith="retry 2 of 2")
        assert [c.attempt for c in retries] == [2]
    assert not TethysJob.objects.filter(lease_owner__isnull=False).exists()
