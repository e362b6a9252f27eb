"""The race tests' worker helpers (``tests.testapp.shared_db``): a worker is frozen only
outside a database transaction, and a wait on a worker ends as soon as the worker does."""

import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.db import connection

from tests.testapp import shared_db
from tests.testapp.shared_db import Worker

pytestmark = pytest.mark.django_db(transaction=True)

#: Holds a write transaction on the test's database for 1.5 s, then lives on without one.
HOLDER = """
import sys, time, pathlib, django
django.setup()
from django.db import transaction
from tethys_compute.models import TethysJob
locked, released = map(pathlib.Path, sys.argv[1:3])
with transaction.atomic():
    TethysJob.objects.filter(pk=0).update(name="x")  # takes the write lock
    locked.write_text(repr(time.monotonic()))  # the transaction lasts 1.5 s from here
    time.sleep(1.5)
released.touch()
time.sleep(600)
"""


def start_holder(tmp_path):
    locked, released = tmp_path / "locked", tmp_path / "released"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(locked), str(released)],
                               env=shared_db.test_db_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return Worker(process, tmp_path / "unused"), locked, released


def sqlite_write_fails(timeout):
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=timeout,
                            isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        probe.close()


def test_a_worker_is_frozen_only_outside_a_transaction(tmp_path):
    worker, locked, released = start_holder(tmp_path)
    try:
        worker.wait_for(locked.exists, timeout=120, message="the write lock")
        if connection.vendor == "sqlite":
            # The hazard: stopped inside its transaction, it keeps the lock from every writer.
            worker.process.send_signal(signal.SIGSTOP)
            assert sqlite_write_fails(timeout=0.5)
            worker.thaw()
        worker.freeze()
        # Stopped only once its transaction had ended: at least 1.5 s after it wrote the
        # lock's time (CLOCK_MONOTONIC is the same clock in every process). Not "released"
        # exists: the stop may land between the COMMIT and that file's touch.
        assert time.monotonic() >= float(locked.read_text()) + 1.5
        if connection.vendor == "sqlite":
            assert not sqlite_write_fails(timeout=5)
        worker.thaw()
    finally:
        worker.process.kill()
        worker.process.communicate()


def test_waiting_on_a_worker_that_ended_fails_at_once_with_its_output(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('no database')"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"ended \(exit 1\) before the mark:\n\nno database"):
        Worker(process, tmp_path / "ready").wait_for(lambda: False, timeout=300,
                                                     message="the mark")
    assert time.monotonic() - started < 60
