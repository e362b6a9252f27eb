"""Fixtures of the Dask tests: real clusters on 127.0.0.1, started and stopped here.

Import them into a test module with ``from tests.engines.dask.fixtures import *``.

* ``dask_cluster``: a ``LocalCluster`` (threads, tcp on 127.0.0.1) for the session.
* ``dask_scheduler``: a ``DaskScheduler`` row pointing at it.
* ``make_dask_job``: creates Dask jobs of the test app through its ``JobManager``.
* ``dask_processes``: ``dask scheduler`` (with the tethys_compute plugin preloaded) and
  ``dask worker`` in separate processes, for the push path and fault tests.
* ``push_server``: a single-threaded Django live server (the plugin reports to it). It is
  single-threaded so that, on SQLite's shared in-memory test database, requests never
  use the connection at the same time (Django's documented pitfall).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

__all__ = [
    "LOCAL_CLUSTER_OPTIONS",
    "dask_cluster",
    "dask_scheduler",
    "make_dask_job",
    "dask_processes",
    "push_server",
    "wait_until",
    "tcp_connections_to",
]


def run_python(script, timeout=60):
    """Run ``script`` in a new Python process with the repository importable; fails the
    test (showing the end of its stderr) unless it exits 0. Returns the finished process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def wait_until(predicate, timeout=30.0, interval=0.02, message="condition"):
    """Call ``predicate`` until it returns a truthy value (returned) or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def tcp_connections_to(port):
    """Open TCP connections of this process to 127.0.0.1:``port``."""
    import psutil

    return [
        c for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


_SHARED = {}

#: Threads in this process, tcp on 127.0.0.1, free ports only (the scheduler always runs
#: an HTTP server: on 127.0.0.1 and a free port rather than distributed's :8787).
LOCAL_CLUSTER_OPTIONS = {
    "processes": False,
    "protocol": "tcp",
    "host": "127.0.0.1",
    "scheduler_port": 0,
    "dashboard_address": "127.0.0.1:0",
    "scheduler_kwargs": {"dashboard": False},
}


def _shared_cluster():
    """One LocalCluster per test process, however many modules import the fixture."""
    cluster = _SHARED.get("cluster")
    if cluster is None or cluster.status.name != "running":
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=1, threads_per_worker=4, **LOCAL_CLUSTER_OPTIONS)
        _SHARED["cluster"] = cluster
    return cluster


def own_client(address):
    """A ``distributed.Client`` of the test's own, outside tethys_compute's cache, connected
    as the cache connects (a handshake broken by a scheduler broadcast is retried)."""
    from tethys_compute.engines.dask import clients

    return clients._connect(address, 20, None)


@pytest.fixture(scope="session")
def dask_cluster():
    """A LocalCluster (one worker, 4 threads, tcp on 127.0.0.1), closed at session end."""
    from tethys_compute.engines.dask import clients

    yield _shared_cluster()
    cluster = _SHARED.pop("cluster", None)
    if cluster is not None:
        clients.close_all()
        cluster.close()


@pytest.fixture
def dask_scheduler(db, dask_cluster):
    from tethys_compute.models import DaskScheduler

    return DaskScheduler.objects.create(
        name="local", host=dask_cluster.scheduler_address, timeout=10
    )


@pytest.fixture
def make_dask_job(user, dask_scheduler):
    from tests.testapp.app import TestApp

    manager = TestApp.get_job_manager()

    def make(name="dask job", scheduler=None, **fields):
        fields["scheduler"] = scheduler or dask_scheduler
        return manager.create_job(name, user, job_type="DASK", **fields)

    return make


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DaskProcesses:
    """A ``dask scheduler`` and its workers as child processes on 127.0.0.1."""

    def __init__(self, directory, tethys_host=None, env=None):
        self.directory = Path(directory)
        self.tethys_host = tethys_host
        self.port = _free_port()
        self.scheduler = None
        self.workers = []
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO)] + [p for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        self.env.update(env or {})
        self._logs = []

    @property
    def address(self):
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, name, args):
        log = open(self.directory / f"{name}-{len(self._logs)}.log", "w")  # noqa: SIM115
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(self.directory),
        )

    def start_scheduler(self):
        args = ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
                "--dashboard-address", "127.0.0.1:0"]
        if self.tethys_host:
            args += ["--preload", "tethys_compute.engines.dask.plugin",
                     "--tethys-host", self.tethys_host]
        self.scheduler = self._spawn("scheduler", args)
        wait_until(lambda: _port_open(self.port) or self.scheduler.poll() is not None,
                   timeout=60, message="the dask scheduler to listen")
        if self.scheduler.poll() is not None:
            pytest.fail(f"dask scheduler exited: {self.log_text()}")
        return self.scheduler

    def start_worker(self, nanny=False, nthreads=2, options=()):
        """Start a ``dask worker``; ``options`` are more of its command-line options
        (e.g. ``["--resources", "MEMORY=2e8", "--memory-limit", "300MiB"]``)."""
        args = ["worker", self.address, "--host", "127.0.0.1", "--nthreads", str(nthreads),
                "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                "--nanny" if nanny else "--no-nanny", *options]
        worker = self._spawn("worker", args)
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count, timeout=60):
        with own_client(self.address) as client:
            client.wait_for_workers(count, timeout=timeout)

    def kill(self, process, sig=signal.SIGKILL):
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def stop_scheduler(self):
        self.kill(self.scheduler, signal.SIGTERM)
        wait_until(lambda: not _port_open(self.port), timeout=20,
                   message="the scheduler port to close")

    def stop(self):
        for worker in self.workers:
            self.kill(worker, signal.SIGTERM)
        self.kill(self.scheduler, signal.SIGTERM)
        for log in self._logs:
            log.close()

    def log_text(self):
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.directory.glob("*.log"))
        )


@pytest.fixture
def dask_processes(tmp_path):
    """Factory: ``dask_processes(tethys_host=None, env=None)`` -> :class:`DaskProcesses`
    (scheduler not started yet). Everything started is stopped after the test."""
    from tethys_compute.engines.dask import clients

    started = []

    def make(tethys_host=None, env=None):
        directory = tmp_path / f"dask-{len(started)}"
        directory.mkdir()
        processes = DaskProcesses(directory, tethys_host=tethys_host, env=env)
        started.append(processes)
        return processes

    yield make
    for processes in started:
        clients.close_client(processes.address)
        processes.stop()


class _SingleThreadLiveServer:
    def __init__(self):
        from django.core.servers.basehttp import WSGIServer
        from django.db import connections
        from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

        class Thread(LiveServerThread):
            def _create_server(self, connections_override=None):
                return WSGIServer((self.host, self.port), QuietWSGIRequestHandler,
                                  allow_reuse_address=False)

        from django.contrib.staticfiles.handlers import StaticFilesHandler

        override = {
            conn.alias: conn for conn in connections.all()
            if conn.vendor == "sqlite" and conn.is_in_memory_db()
        }
        self.thread = Thread("127.0.0.1", StaticFilesHandler, connections_override=override)
        self.thread.daemon = True

    def start(self):
        for conn in self.thread.connections_override.values():
            conn.inc_thread_sharing()
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error

    def stop(self):
        self.thread.terminate()
        for conn in self.thread.connections_override.values():
            conn.dec_thread_sharing()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.thread.port}"


@pytest.fixture
def push_server(transactional_db):
    """A live Django server (one request at a time) for the scheduler plugin."""
    server = _SingleThreadLiveServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def read_json(url, timeout=5):
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


def poll_job(job, until, timeout=90):
    """Refresh a Dask ``job`` from its scheduler until its cached status is one of
    ``until`` (display names); returns it fresh from the database."""
    from tethys_compute.models import DaskJob

    def check():
        try:
            job.refresh_from_scheduler()
        except Exception:  # noqa: BLE001 - recorded on the job; keep polling
            pass
        job.refresh_from_db()
        return job.cached_status in until

    wait_until(check, timeout=timeout, interval=0.1,
               message=f"job {job.pk} to reach {until} (now {job.cached_status})")
    return DaskJob.objects.get(pk=job.pk)
