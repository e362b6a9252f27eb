"""A PostgreSQL server for the benchmarks kept in a data directory between runs.

``.ci/with-postgres`` makes a throwaway server for each command, so a large benchmark
database is built again on every run. :func:`kept_server` instead starts a server from
``directory`` (made with ``initdb`` on first use; as the ``postgres`` user when run as
root) listening on a Unix socket in ``directory`` only (no TCP port, so it can run beside
a test server), points Django's test settings at it, and stops it when the process
exits; the data directory (and every database built in it) stays.
"""

from __future__ import annotations

import atexit
import glob
import os
import subprocess
from pathlib import Path

#: The throwaway server's settings (``.ci/with-postgres``): durability off, as for tests.
OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"


def _bin() -> Path:
    return Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                       key=lambda p: int(p.split("/")[4]))[-1]).parent


def _as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run(prefix + list(command), check=True, stdout=subprocess.DEVNULL)


def kept_server(directory: str, database: str) -> None:
    """Start (initialising if needed) the server of ``directory`` and make ``database``
    in it if missing; set the environment ``tests.settings`` reads."""
    path = Path(directory)
    data = path / "data"
    port = "5432"  # only names the socket file in ``directory``
    pg = _bin()
    if not data.exists():
        path.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            subprocess.run(["chown", "postgres:", str(path)], check=True)
        _as_postgres(str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8")
    _as_postgres(str(pg / "pg_ctl"), "-D", str(data), "-l", str(path / "server.log"), "-w",
                 "-o", f"-c listen_addresses='' -p {port} -k {path} {OPTIONS}", "start")
    atexit.register(_as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                    "stop")
    os.environ.update(TETHYS_TEST_DB="postgres", PGHOST=str(path), PGPORT=port,
                      PGUSER="postgres", PGDATABASE=database)
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
