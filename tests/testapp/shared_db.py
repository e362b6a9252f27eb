"""Run app processes (workers, a live server) on the test's own database, so a race
between processes runs on SQLite and on PostgreSQL alike. The test must commit what they
read: mark it ``django_db(transaction=True)``.

``worker(job, action, ...)`` starts ``python -m tests.testapp.worker`` (see there);
``TestDatabaseProject`` is a :class:`~tests.testapp.live.LiveProject` whose processes use
the test database instead of a copied SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from django.db import connection

from .live import ROOT, LiveProject


def test_db_env(tethys_compute=None, **extra):
    """Environment of an app process on this test's database."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="tests.testapp.live_settings",
               TESTAPP_TETHYS_COMPUTE=json.dumps(tethys_compute or {}))
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        env["PGDATABASE"] = name
        env["PGAPPNAME"] = WORKER_APP_NAME
    else:
        env.pop("TETHYS_TEST_DB", None)
        env["TETHYS_TEST_SQLITE_FILE"] = name
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Worker:
    """One ``tests.testapp.worker`` process."""

    def __init__(self, process, ready):
        self.process = process
        self.ready = ready

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.process.poll() is not None:
                raise AssertionError(self.process.communicate())
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.01)

    def wait_for(self, condition, timeout=300, message="condition"):
        """Wait until ``condition()`` holds while the worker runs. A worker that ended first
        fails the wait at once with its output; one slow to start (Django's setup on a
        loaded machine) is waited for, up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                if condition():
                    return
                out, err = self.process.communicate()
                raise AssertionError(f"the worker ended (exit {self.process.returncode}) "
                                     f"before {message}:\n{out[-2000:]}\n{err[-4000:]}")
            assert time.monotonic() < deadline, f"timed out waiting for {message}"
            time.sleep(0.02)

    def freeze(self, timeout=60):
        """Stop the worker (SIGSTOP) at a moment it holds no database lock, as a process
        presumed dead that the database did not see die. Stopped inside a write (its
        claim renewal's UPDATE, on another thread), it would keep SQLite's lock and every
        other writer would fail with "database is locked" once the busy timeout ran out:
        the stop is retried until it lands outside one. Undo with :meth:`thaw`."""
        deadline = time.monotonic() + timeout
        while True:
            os.kill(self.process.pid, signal.SIGSTOP)
            if _holds_no_lock():
                return
            os.kill(self.process.pid, signal.SIGCONT)
            assert time.monotonic() < deadline, "the worker never left its database lock"
            time.sleep(0.01)

    def thaw(self):
        os.kill(self.process.pid, signal.SIGCONT)

    def result(self, timeout=120):
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])


#: ``application_name`` of the workers' PostgreSQL sessions (libpq reads ``PGAPPNAME``).
WORKER_APP_NAME = "tethys-compute-test-worker"


def _holds_no_lock():
    """True when no stopped worker can be holding a lock other writers wait for: SQLite's
    file takes an exclusive lock at once (a reader or writer elsewhere would refuse it), and
    no worker's PostgreSQL session is inside a transaction (an autocommit statement is
    finished by the server without its client)."""
    if connection.vendor == "sqlite":
        probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0.5,
                                isolation_level=None)
        try:
            probe.execute("BEGIN EXCLUSIVE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return False
        finally:
            probe.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                       " AND state LIKE 'idle in transaction%%'", [WORKER_APP_NAME])
        return cursor.fetchone()[0] == 0


def worker(job, action, tmp_path, *, go=None, name=None, tethys_compute=None, env=None,
           **args):
    """Start a worker that loads ``job``, waits for the file ``go`` (if given), then runs
    ``action`` on its copy (``env``: more environment variables)."""
    name = name or f"{action}-{time.monotonic_ns()}"
    ready = tmp_path / f"ready-{name}"
    spec = {"job": job.pk, "action": action, "go": go and str(go), "ready": str(ready), **args}
    process = subprocess.Popen([sys.executable, "-m", "tests.testapp.worker", json.dumps(spec)],
                               env=test_db_env(tethys_compute, **(env or {})), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return Worker(process, ready)


class TestDatabaseProject(LiveProject):
    """A LiveProject (live server, monitors) on the test's database."""

    __test__ = False

    def __init__(self, tmp_path, tethys_compute=None, **extra):
        self.engine_dir = tmp_path / "engine"
        self.logs = tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)
        self.env = test_db_env(tethys_compute, TESTAPP_ENGINE_DIR=self.engine_dir,
                               TETHYS_TEST_WORKSPACES=tmp_path / "workspaces", **extra)
        self.processes = []
