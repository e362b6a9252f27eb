"""``manage.py tethys_compute_monitor``: keep job statuses moving with nobody watching.

Each cycle refreshes the active jobs (one engine query per scheduler), carries out due
``?delay=`` refresh requests, retries incomplete result processing, and lets jobs their
engine no longer knows reach Error. Several monitors may run at once (each job is
refreshed by one of them at a time). SIGTERM or SIGINT ends it after the current cycle.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from ...conf import get_config
from ...monitor import next_request_due, run_cycle
from ._arguments import seconds, text

#: Longest pause between cycles (seconds): a day.
MAX_INTERVAL = 86400.0


class Command(BaseCommand):
    help = (
        "Refresh the status of every active job in batches per scheduler, run due delayed "
        "refreshes and retry incomplete result processing; one log line per cycle."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="Run one cycle and exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help='Seconds between cycles, more than 0 and at most 86400 (default '
                 'TETHYS_COMPUTE["MONITOR_INTERVAL"], 10).',
        )
        parser.add_argument(
            "--label", default=None, help="Only the jobs of this app (its package name)."
        )

    def check(self, *args, **kwargs):
        """Django's system checks, except that a database that cannot be reached does not
        stop the monitor before its first cycle (Django 6.1's model checks connect to
        every database): the cycles report it, and a long-running monitor waits for it."""
        try:
            result = super().check(*args, **kwargs)
            self._warn_rollback_journal()
            return result
        except DatabaseError as exc:
            self.stderr.write(
                f"tethys_compute monitor: system checks skipped, the database cannot be "
                f"used: {exc}"
            )
            return None

    def _warn_rollback_journal(self):
        """Report ``tethys_compute.W009`` (SQLite without WAL), which a plain ``check``
        does not run (it reads the database)."""
        from django.db import connections

        from ...checks import jobs_database_alias, journal_warning

        message = journal_warning(connections[jobs_database_alias()])
        if message is not None:
            self.stderr.write(f"tethys_compute monitor: {message} HINT: {message.hint}")

    def handle(self, *args, once=False, interval=None, label=None, **options):
        if interval is None:
            interval = seconds(get_config()["MONITOR_INTERVAL"],
                               'TETHYS_COMPUTE["MONITOR_INTERVAL"]', high=MAX_INTERVAL)
        else:
            interval = seconds(interval, "--interval", high=MAX_INTERVAL)
        text(label, "--label")
        self.verbosity = options.get("verbosity", 1)
        stop = threading.Event()
        restore = self._install_signal_handlers(stop)
        try:
            while True:
                try:
                    stats = run_cycle(label, stop=stop)
                except Exception as exc:  # noqa: BLE001 - the database may come back
                    if once:
                        raise CommandError(f"Monitor cycle failed: {exc}") from exc
                    self.stderr.write(f"tethys_compute monitor: cycle failed: {exc}")
                else:
                    if self.verbosity >= 1:
                        self.stdout.write(stats.summary())
                if once or stop.is_set():
                    break
                stop.wait(self._pause(interval, label))
                if stop.is_set():
                    break
        finally:
            restore()
        if self.verbosity >= 1 and not once:
            self.stdout.write("tethys_compute monitor: stopped.")

    @staticmethod
    def _pause(interval, label):
        """Seconds until the next cycle: the interval, or less (but at least a second or
        the interval) when a refresh request falls due sooner."""
        try:
            due = next_request_due(label)
        except Exception:  # noqa: BLE001 - the next cycle reports database trouble
            return interval
        if due is None:
            return interval
        floor = min(interval, 1.0)
        return min(interval, max((due - timezone.now()).total_seconds(), floor))

    @staticmethod
    def _install_signal_handlers(stop):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())

        def restore():
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore
