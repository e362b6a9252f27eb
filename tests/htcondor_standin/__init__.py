"""A stand-in for HTCondor's command-line tools, for tests only (never shipped).

HTCondor daemons cannot be installed where the tests run, so this package provides
``condor_submit``, ``condor_q``, ``condor_history``, ``condor_rm``, ``condor_hold``,
``condor_release``, ``condor_submit_dag``, ``condor_wait`` and ``condor_dagman`` that
behave as the HTCondor manual documents them: jobs really run as local processes,
leave the queue for the history, and write user logs in HTCondor's event-log format.

:class:`StandIn` installs one "pool": a ``bin/`` directory of tool wrappers (put it first
on ``PATH``) bound to one state directory. Keep this module light: every tool imports it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

#: File in a pool's state directory that tells its schedd to stop (and a new one not to start).
SHUTDOWN_MARKER = "shutdown"

TOOLS = (
    "condor_submit",
    "condor_q",
    "condor_history",
    "condor_rm",
    "condor_hold",
    "condor_release",
    "condor_vacate_job",
    "condor_vacate",
    "condor_submit_dag",
    "condor_wait",
    "condor_dagman",
)

_WRAPPER = """#!/bin/sh
# HTCondor stand-in tool (tests only): {tool}
HTCONDOR_STANDIN_STATE='{state}'
STANDIN_TICK='{tick}'
STANDIN_START_DELAY='{start_delay}'
STANDIN_SLOTS='{slots}'
STANDIN_IDLE_EXIT='{idle_exit}'
PYTHONPATH='{lib}'"${{PYTHONPATH:+:$PYTHONPATH}}"
export HTCONDOR_STANDIN_STATE STANDIN_TICK STANDIN_START_DELAY STANDIN_SLOTS STANDIN_IDLE_EXIT PYTHONPATH
printf '%s\n' '{tool}' >> '{calls}' 2>/dev/null
exec '{python}' -m tests.htcondor_standin.cli {tool} "$@"
"""


class StandIn:
    """One stand-in pool: tool wrappers in ``<root>/bin``, queue and history in
    ``<root>/state``.

    :param tick: seconds between two passes of the stand-in schedd (and DAGMan).
    :param start_delay: seconds a job stays Idle before it starts.
    :param slots: how many vanilla jobs run at once.
    """

    def __init__(self, root, *, python=None, tick=0.05, start_delay=0.05, slots=32,
                 idle_exit=20):
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.state = self.root / "state"
        self.lib = self.root / "lib"
        self.calls_log = self.state / "calls.log"
        self.python = python or sys.executable
        self.settings = dict(tick=tick, start_delay=start_delay, slots=slots, idle_exit=idle_exit)

    def install(self):
        """Copy the stand-in's code under ``<root>/lib`` (so a user who cannot read the
        repository can run it) and write the tool wrappers; returns ``self``."""
        self.bin.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        package = self.lib / "tests" / "htcondor_standin"
        package.mkdir(parents=True, exist_ok=True)
        (self.lib / "tests" / "__init__.py").write_text("")
        for source in Path(__file__).parent.glob("*.py"):
            if not source.name.startswith(("test_", "fixtures", "bindings")):
                shutil.copy2(source, package / source.name)
        for tool in TOOLS:
            path = self.bin / tool
            path.write_text(_WRAPPER.format(tool=tool, state=self.state, lib=self.lib,
                                            calls=self.calls_log,
                                            python=self.python, **self.settings))
            path.chmod(0o755)
        return self

    def path_env(self, base=None):
        """``PATH`` with the stand-in's tools first."""
        base = os.environ.get("PATH", "") if base is None else base
        return f"{self.bin}{os.pathsep}{base}" if base else str(self.bin)

    def run(self, tool, *args, cwd=None, check=False, timeout=60):
        """Run one tool; returns the ``CompletedProcess`` (text output)."""
        env = dict(os.environ, PATH=self.path_env())
        return subprocess.run([str(self.bin / tool), *map(str, args)], cwd=cwd, env=env,
                              capture_output=True, text=True, check=check, timeout=timeout)

    def vacate(self, *job_ids, fast=False):
        """Evict running jobs (``condor_vacate_job``; all running jobs with
        ``condor_vacate`` when no id is given): they go back to Idle and run again."""
        flags = ["-fast"] if fast else []
        if job_ids:
            return self.run("condor_vacate_job", *flags, *job_ids)
        return self.run("condor_vacate", *flags)

    def slow(self, tool, seconds):
        """Make ``tool`` (e.g. ``"condor_q"``) wait ``seconds`` before answering, as a
        busy schedd does; ``None`` makes it answer at once again."""
        path = self.state / f"{tool}.delay"
        if seconds is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(str(float(seconds)))

    def calls(self):
        """Names of the tools run so far (one per invocation), in order."""
        try:
            return self.calls_log.read_text().split()
        except FileNotFoundError:
            return []

    def reset_calls(self):
        with open(self.calls_log, "w"):
            pass
        self.calls_log.chmod(0o666)  # the pool's user (maybe another one) appends to it

    def schedd_pid(self):
        try:
            return int((self.state / "schedd.pid").read_text())
        except (OSError, ValueError):
            return None

    def wait_until_empty(self, timeout=30):
        """Wait until the queue is empty (every job in the history); returns True if so."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            result = self.run("condor_q", "-allusers", "-af", "ClusterId")
            if result.returncode == 0 and not result.stdout.strip():
                return True
            time.sleep(0.1)
        return False

    def shutdown(self, timeout=10):
        """Stop the pool's schedd; it kills the jobs it still runs. A schedd a tool started
        a moment ago (no pid file yet) sees the pool's shutdown file and stops by itself."""
        with contextlib.suppress(OSError):
            (self.state / SHUTDOWN_MARKER).touch()
        pid = self.schedd_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            if _is_zombie(pid):
                return
            time.sleep(0.05)


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
