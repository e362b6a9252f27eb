"""The stand-in schedd's job queue and history, kept in one SQLite file per pool.

Every tool (``condor_submit``, ``condor_q``...), the schedd loop and DAGMan open the same
database under ``$HTCONDOR_STANDIN_STATE``. A job row holds its ClassAd as JSON; jobs in
the queue have ``in_queue = 1`` and move to the history (``in_queue = 0``) when they leave
the queue, as HTCondor's schedd does. Writes use ``BEGIN IMMEDIATE`` so a
read-modify-write of an ad is never lost between processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path

ENV_STATE = "HTCONDOR_STANDIN_STATE"

#: Attributes private to the stand-in (never shown by condor_q/condor_history).
PRIVATE_PREFIX = "_standin_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    cluster INTEGER NOT NULL,
    proc INTEGER NOT NULL,
    in_queue INTEGER NOT NULL DEFAULT 1,
    left_queue REAL,
    ad TEXT NOT NULL,
    PRIMARY KEY (cluster, proc)
);
CREATE INDEX IF NOT EXISTS jobs_in_queue ON jobs (in_queue, cluster);
CREATE INDEX IF NOT EXISTS jobs_dag ON jobs (json_extract(ad, '$.DAGManJobId'));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def state_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The pool's state directory (``$HTCONDOR_STANDIN_STATE`` unless given)."""
    value = explicit or os.environ.get(ENV_STATE)
    if not value:
        raise SystemExit(f"ERROR: {ENV_STATE} is not set; the HTCondor stand-in has no pool.")
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


class Queue:
    """Access to one pool's jobs. Open it per use; it is cheap."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.dir = state_dir(directory)
        self.path = self.dir / "schedd.sqlite3"
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 30000")
        mode = self.db.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            with contextlib.suppress(sqlite3.OperationalError):
                self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.executescript(_SCHEMA)

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def write(self):
        """A write transaction (``BEGIN IMMEDIATE``): reads inside it see the latest rows
        and no other process writes until it ends."""
        for attempt in range(200):
            try:
                self.db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:
                if attempt == 199:
                    raise
                time.sleep(0.05)
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def data_version(self) -> int:
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # --- cluster ids -------------------------------------------------------------------
    def next_cluster(self) -> int:
        """Allocate the next ClusterId (call inside :meth:`write`)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'next_cluster'").fetchone()
        cluster = int(row[0]) if row else 1
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_cluster', ?)", (str(cluster + 1),)
        )
        return cluster

    # --- ads -------------------------------------------------------------------------------
    def insert(self, ad: dict):
        self.db.execute(
            "INSERT INTO jobs (cluster, proc, in_queue, ad) VALUES (?, ?, 1, ?)",
            (ad["ClusterId"], ad["ProcId"], json.dumps(ad)),
        )

    def update(self, ad: dict):
        self.db.execute(
            "UPDATE jobs SET ad = ? WHERE cluster = ? AND proc = ?",
            (json.dumps(ad), ad["ClusterId"], ad["ProcId"]),
        )

    def to_history(self, ad: dict):
        """Move a job out of the queue into the history."""
        ad["EnteredHistoryTime"] = int(time.time())
        self.db.execute(
            "UPDATE jobs SET ad = ?, in_queue = 0, left_queue = ? WHERE cluster = ? AND proc = ?",
            (json.dumps(ad), time.time(), ad["ClusterId"], ad["ProcId"]),
        )

    def queue(self) -> list[dict]:
        """Ads of the jobs in the queue, by ClusterId and ProcId."""
        rows = self.db.execute("SELECT ad FROM jobs WHERE in_queue = 1 ORDER BY cluster, proc")
        return [json.loads(row[0]) for row in rows]

    def history(self) -> list[dict]:
        """Ads of the jobs that left the queue, most recent first (as condor_history)."""
        rows = self.db.execute(
            "SELECT ad FROM jobs WHERE in_queue = 0 ORDER BY left_queue DESC, cluster DESC, proc DESC"
        )
        return [json.loads(row[0]) for row in rows]

    def get(self, cluster: int, proc: int) -> tuple[dict, bool] | None:
        row = self.db.execute(
            "SELECT ad, in_queue FROM jobs WHERE cluster = ? AND proc = ?", (cluster, proc)
        ).fetchone()
        return (json.loads(row[0]), bool(row[1])) if row else None

    def dag_jobs(self, dag_id: int) -> list[tuple[dict, bool]]:
        """``(ad, in_queue)`` of every job DAGMan ``dag_id`` submitted, oldest first."""
        rows = self.db.execute(
            "SELECT ad, in_queue FROM jobs WHERE json_extract(ad, '$.DAGManJobId') = ? "
            "ORDER BY cluster, proc",
            (dag_id,),
        )
        return [(json.loads(row[0]), bool(row[1])) for row in rows]

    def cluster_in_queue(self, cluster: int) -> list[dict]:
        rows = self.db.execute(
            "SELECT ad FROM jobs WHERE in_queue = 1 AND cluster = ? ORDER BY proc", (cluster,)
        )
        return [json.loads(row[0]) for row in rows]


def public(ad: dict) -> dict:
    """The ad without the stand-in's private bookkeeping attributes."""
    return {k: v for k, v in ad.items() if not k.startswith(PRIVATE_PREFIX)}
