"""Dask schedulers that do not answer, for the bound tests: a closed port (down) and a
listener on 127.0.0.1 that accepts connections and never says a word (silent).

``timed(call)`` runs ``call`` in a thread and measures it from outside, so a call that
never returns fails the test instead of hanging it.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any


class SilentScheduler:
    """A TCP listener on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._held = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def accepted(self):
        return len(self._held)

    def _accept(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)  # kept open, never read, never written

    def close(self):
        self._stopped.set()
        self._sock.close()
        for conn in self._held:
            conn.close()


def closed_port_address():
    """The address of a port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@dataclass
class Timed:
    seconds: float
    value: Any = None
    error: BaseException | None = None
    finished: bool = True


def timed(call, limit=60.0) -> Timed:
    """Run ``call()`` in a thread; wait at most ``limit`` seconds. A call still running
    then is reported with ``finished=False`` (its thread is left behind, a daemon)."""
    box = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            box["error"] = exc
        finally:
            from django.db import connections

            connections.close_all()

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    seconds = time.monotonic() - started
    if thread.is_alive():
        return Timed(seconds, finished=False)
    return Timed(seconds, box.get("value"), box.get("error"))
