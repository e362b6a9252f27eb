"""Run the app in other processes for tests: a migrated SQLite database file they share,
``manage.py`` commands, the :mod:`tests.testapp.ops` helper, and a real ``runserver``
on a free 127.0.0.1 port that the test starts, kills and restarts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def base_env(**extra):
    """Environment for a subprocess of the test project (PostgreSQL variables dropped:
    these processes use the SQLite file they are given)."""
    env = {k: v for k, v in os.environ.items() if k != "TETHYS_TEST_DB"}
    env.update(PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.testapp.live_settings",
               PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def migrate_template(path: Path):
    """Create a migrated SQLite database file at ``path``."""
    env = base_env(TETHYS_TEST_SQLITE_FILE=path)
    done = subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveProject:
    """One test's database file, engine directory and environment."""

    def __init__(self, template: Path, tmp_path: Path, tethys_compute=None):
        self.db = tmp_path / "live.sqlite3"
        shutil.copy(template, self.db)
        self.engine_dir = tmp_path / "engine"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.env = base_env(
            TETHYS_TEST_SQLITE_FILE=self.db,
            TESTAPP_ENGINE_DIR=self.engine_dir,
            TETHYS_TEST_WORKSPACES=tmp_path / "workspaces",
            TESTAPP_TETHYS_COMPUTE=json.dumps(tethys_compute or {}),
        )
        self.processes = []

    # --- one-shot commands ---------------------------------------------------------------
    def ops(self, command, **args):
        done = subprocess.run([sys.executable, "-m", "tests.testapp.ops", command,
                               json.dumps(args)], env=self.env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def manage(self, *args, timeout=120):
        return subprocess.run([sys.executable, "-m", "django", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    # --- long-running processes -----------------------------------------------------------
    def spawn(self, name, *args):
        """Start ``manage.py <args>``; stdout and stderr go to files under ``logs``."""
        out = open(self.logs / f"{name}.out", "w")  # noqa: SIM115 - closed in stop()
        err = open(self.logs / f"{name}.err", "w")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "django", *args], env=self.env,
                                   stdout=out, stderr=err, text=True)
        process.files = (out, err)
        process.name = name
        self.processes.append(process)
        return process

    def output(self, process):
        """``(stdout, stderr)`` the process wrote so far."""
        return ((self.logs / f"{process.name}.out").read_text(),
                (self.logs / f"{process.name}.err").read_text())

    def start_server(self, name="server"):
        port = free_port()
        process = self.spawn(name, "runserver", f"127.0.0.1:{port}", "--noreload")
        server = Server(process, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120  # a loaded machine starts Django slowly
        while True:
            assert process.poll() is None, self.output(process)
            try:
                server.request("GET", "/update-job-status/0/")
                return server
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)

    def stop(self, process, sig=None, timeout=30):
        if process.poll() is None:
            if sig is None:
                process.kill()
            else:
                process.send_signal(sig)
        try:
            process.wait(timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            for handle in process.files:
                handle.close()
        return process.returncode

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None or not process.files[0].closed:
                self.stop(process)


class Server:
    def __init__(self, process, base_url):
        self.process = process
        self.base_url = base_url

    def request(self, method, path, *, data=None, json_body=None, headers=None):
        """Send a request; return ``(status, parsed JSON body)``."""
        headers = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")
