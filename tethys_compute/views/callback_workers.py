"""The threads that carry out the engine work callback requests start (refreshes, result
processing), so a request waits for it at most ``CALLBACK_REFRESH_TIMEOUT`` seconds.

At most ``CALLBACK_REFRESH_WORKERS`` pieces of work run at once. The threads are kept
between pieces of work, each with its own database connection, so a burst of reports
(hundreds of jobs finishing) does not start a thread and open a connection per report; a
thread that has had nothing to do for ``IDLE_SECONDS`` closes its connections and ends.
"""

from __future__ import annotations

import logging
import queue
import threading

from django.db import connections

from ..conf import get_config

logger = logging.getLogger("tethys_compute.callbacks")

#: How long (seconds) a thread waits for more work before it closes its connections
#: and ends.
IDLE_SECONDS = 2.0

_STOP = object()


class Task:
    """One piece of work handed to a thread: ``done`` is set when it ended;
    ``outcome["answer"]`` holds the string ``work`` returned, if any."""

    __slots__ = ("work", "job", "done", "outcome", "name")

    def __init__(self, work, job):
        self.work = work
        self.job = job
        self.done = threading.Event()
        self.outcome = {}

    def join(self, timeout=None):
        self.done.wait(timeout)

    def is_alive(self):
        return not self.done.is_set()


def run_work(work, job, outcome=None):
    """Run ``work(job)``; its answer (a string, e.g. ``"skipped"``) goes to
    ``outcome["answer"]``. Failures are logged, never raised."""
    try:
        answer = work(job)
        if outcome is not None and isinstance(answer, str):
            outcome["answer"] = answer
    except Exception:  # noqa: BLE001 - logged; the monitor tries again
        logger.exception("Job %s: %s started by a callback failed", job.pk, work.__name__)


def _drop_broken_connections():
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and (conn.errors_occurred or conn.in_atomic_block):
            if conn.in_atomic_block or not conn.is_usable():
                conn.close()
            conn.errors_occurred = False


class CallbackWorkers:
    """At most ``CALLBACK_REFRESH_WORKERS`` long-lived threads fed by one queue."""

    #: At most this many pieces of background work wait for a thread (see ``submit``).
    MAX_BACKLOG = 10_000

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: set[threading.Thread] = set()
        self._busy = 0  # threads running a task
        self._pending = 0  # tasks queued, not taken yet
        self._tasks: set[Task] = set()

    def start(self, work, job):
        """Hand ``work(job)`` to a thread, for a request that waits for it; the
        :class:`Task`, or ``None`` when ``CALLBACK_REFRESH_WORKERS`` pieces of work are
        running or waiting already."""
        return self._put(work, job, get_config()["CALLBACK_REFRESH_WORKERS"])

    def submit(self, work, job):
        """Queue ``work(job)`` for the threads, for work nobody waits for (result
        processing a report claimed); the :class:`Task`, or ``None`` when
        ``MAX_BACKLOG`` pieces of work are waiting already."""
        return self._put(work, job, self.MAX_BACKLOG)

    def _put(self, work, job, limit):
        with self._lock:
            self._tasks = {task for task in self._tasks if task.is_alive()}
            if len(self._tasks) >= limit:
                return None
            task = Task(work, job)
            self._tasks.add(task)
            self._pending += 1
            free = len(self._threads) - self._busy - (self._pending - 1)
            if free <= 0 and len(self._threads) < get_config()["CALLBACK_REFRESH_WORKERS"]:
                thread = threading.Thread(target=self._serve, daemon=True,
                                          name="tethys-compute-callback-worker")
                self._threads.add(thread)
                thread.start()
            self._queue.put(task)
        return task

    def _serve(self):
        try:
            while True:
                try:
                    task = self._queue.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:
                        if not self._pending:
                            return
                    continue
                if task is _STOP:
                    with self._lock:
                        if not self._pending:
                            return
                    continue  # work came in after wait(): keep serving it
                with self._lock:
                    self._pending -= 1
                    self._busy += 1
                try:
                    _drop_broken_connections()
                    run_work(task.work, task.job, task.outcome)
                finally:
                    with self._lock:
                        self._busy -= 1
                    task.done.set()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
            connections.close_all()  # this thread's connections only

    def wait(self, timeout=None):
        """Wait for the work handed out so far (tests, orderly shutdown), then end the
        threads (closing their connections). True when no work is left running."""
        with self._lock:
            tasks = list(self._tasks)
        for task in tasks:
            task.join(timeout)
        if any(task.is_alive() for task in tasks):
            return False
        with self._lock:
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(_STOP)
        for thread in threads:
            thread.join(timeout)
        return True
