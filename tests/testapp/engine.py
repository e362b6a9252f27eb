"""A small, real scheduler stand-in at the adapter boundary, for testing the monitor and
the callbacks without HTCondor or Dask.

Its state lives in files under a directory, so several processes (a live server, two
monitors, the test itself) share one "scheduler": ``<root>/<scheduler>.json`` holds
``{key: state}`` and settings, and every query is appended to ``<root>/queries.jsonl``
(scheduler, keys, pid, start and end times), which the tests read to count engine
queries and to see which process asked about which job when.

States: ``queued``, ``running``, ``done``, ``failed``. A key missing from the file is a
job the engine does not know.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tethys_compute.exceptions import EngineUnavailable

ENV_VAR = "TESTAPP_ENGINE_DIR"


def engine():
    """The engine configured by ``settings.TESTAPP_ENGINE_DIR`` or the environment."""
    root = getattr(settings, "TESTAPP_ENGINE_DIR", None) or os.environ.get(ENV_VAR)
    if not root:
        raise EngineUnavailable("no fake engine directory configured")
    return FakeEngine(root)


class FakeEngine:
    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # --- storage ---------------------------------------------------------------------------
    @contextmanager
    def _locked(self):
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _path(self, scheduler):
        return self.root / f"{scheduler}.json"

    def _load(self, scheduler):
        path = self._path(scheduler)
        if not path.exists():
            return {"jobs": {}, "latency": 0.0, "down": False, "results": True}
        return json.loads(path.read_text())

    def _store(self, scheduler, data):
        tmp = self._path(scheduler).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path(scheduler))

    def _change(self, scheduler, **changes):
        with self._locked():
            data = self._load(scheduler)
            data.update(changes)
            self._store(scheduler, data)

    # --- what a test does to the scheduler ---------------------------------------------------
    def submit(self, scheduler, key, state="queued"):
        with self._locked():
            data = self._load(scheduler)
            data["jobs"][key] = state
            self._store(scheduler, data)
        if state == "queued":
            self._journal({"scheduler": scheduler, "submitted": key, "pid": os.getpid()})

    def submissions(self):
        """Keys submitted in state ``queued`` (by ``submit()``), in order."""
        path = self.root / "queries.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [entry["submitted"] for entry in entries if "submitted" in entry]

    def submit_many(self, scheduler, keys, state="queued"):
        with self._locked():
            data = self._load(scheduler)
            data["jobs"].update({key: state for key in keys})
            self._store(scheduler, data)

    def set_state(self, scheduler, key, state):
        self.submit(scheduler, key, state)

    def set_all(self, scheduler, state):
        with self._locked():
            data = self._load(scheduler)
            data["jobs"] = {key: state for key in data["jobs"]}
            self._store(scheduler, data)

    def forget(self, scheduler, key):
        with self._locked():
            data = self._load(scheduler)
            data["jobs"].pop(key, None)
            self._store(scheduler, data)

    def set_latency(self, scheduler, seconds):
        self._change(scheduler, latency=seconds)

    def set_gate(self, scheduler, path):
        """Make each status query of ``scheduler`` wait (up to 60 s) until the file ``path``
        exists; a query that starts waiting creates ``<path>.waiting``."""
        self._change(scheduler, gate=str(path))

    def set_down(self, scheduler, down=True):
        self._change(scheduler, down=down)

    def set_results_available(self, scheduler, available=True):
        self._change(scheduler, results=available)

    # --- what the adapter does ------------------------------------------------------------
    def query(self, scheduler, keys):
        """One engine query: the states of ``keys`` (``None`` for unknown keys).

        :raises EngineUnavailable: if the scheduler is down.
        """
        keys = list(keys)
        start = time.time()
        data = self._load(scheduler)
        if data["latency"]:
            time.sleep(data["latency"])
        if data.get("gate"):
            Path(data["gate"] + ".waiting").touch()
            deadline = time.time() + 60
            while not os.path.exists(data["gate"]) and time.time() < deadline:
                time.sleep(0.02)
        end = time.time()
        self._journal({"scheduler": scheduler, "keys": keys, "pid": os.getpid(),
                       "start": start, "end": end, "down": data["down"]})
        if data["down"]:
            raise EngineUnavailable(f"scheduler {scheduler} is not answering")
        return {key: data["jobs"].get(key) for key in keys}

    def fetch_results(self, scheduler, key):
        data = self._load(scheduler)
        if data["latency"]:
            time.sleep(data["latency"])
        if not data["results"]:
            raise EngineUnavailable(f"results of {key} cannot be fetched from {scheduler} now")
        self._journal({"scheduler": scheduler, "results": key, "pid": os.getpid(),
                       "start": time.time(), "end": time.time()})
        return f"results of {key}"

    def _journal(self, entry):
        with self._locked(), open(self.root / "queries.jsonl", "a") as journal:
            journal.write(json.dumps(entry) + "\n")

    def queries(self):
        """Every status query so far (dicts with scheduler, keys, pid, start, end)."""
        path = self.root / "queries.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [entry for entry in entries if "keys" in entry]

    def result_fetches(self):
        path = self.root / "queries.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [entry["results"] for entry in entries if "results" in entry]

    def clear_journal(self):
        with self._locked():
            (self.root / "queries.jsonl").unlink(missing_ok=True)
