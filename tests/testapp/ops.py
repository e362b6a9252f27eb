"""Command-line helper for tests that run the app in other processes (a live server, a
monitor): sets up and reads a database those processes share.

    python -m tests.testapp.ops COMMAND 'JSON arguments'

Prints a JSON answer. Commands: ``create`` (jobs on the fake engine), ``show`` (rows),
``delete`` (jobs), ``age`` (make statuses stale), ``request`` (refresh requests),
``leases`` (how many jobs are leased), ``session`` (a logged-in session key),
``table_token`` (the signed configuration of a jobs table of some jobs), ``churn``
(another writer's transactions until a stop file exists).
"""

import json
import os
import sys
from datetime import timedelta

import django


def main(argv):
    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tests.testapp.engine import engine
    from tests.testapp.fixtures import make_jobs
    from tethys_compute.models import TethysJob

    command, args = argv[0], json.loads(argv[1] if len(argv) > 1 else "{}")
    if command == "create":
        user, _ = get_user_model().objects.get_or_create(username=args.get("user", "alice"))
        jobs = make_jobs(
            engine(), user, args.get("count", 1),
            schedulers=tuple(args.get("schedulers", ["alpha"])),
            status=args.get("status", "SUB"), state=args.get("state", "queued"),
            age=args.get("age", 60),
        )
        return [{"id": job.pk, "key": job.key, "token": job.status_report_token} for job in jobs]
    if command == "show":
        jobs = TethysJob.objects.filter(pk__in=args["ids"]).select_subclasses()
        return {
            str(job.pk): {
                "status": job._status,
                "status_message": job.status_message,
                "completion_time": job.completion_time and job.completion_time.isoformat(),
                "last_status_update": job._last_status_update.isoformat(),
                "refresh_requested_at": job.refresh_requested_at
                and job.refresh_requested_at.isoformat(),
                "lease_owner": job.lease_owner,
                "progress": job.progress,
                "results": getattr(job, "results", None),
            }
            for job in jobs
        }
    if command == "delete":
        return TethysJob.objects.filter(pk__in=args["ids"]).delete()[0]
    if command == "age":
        when = timezone.now() - timedelta(seconds=args.get("seconds", 60))
        return TethysJob.objects.filter(pk__in=args["ids"]).update(_last_status_update=when)
    if command == "request":
        from tethys_compute.leases import request_refresh

        jobs = TethysJob.objects.filter(pk__in=args["ids"])
        return [request_refresh(job, args["delay"]).isoformat() for job in jobs]
    if command == "session":
        # A logged-in session of the user (cookie value) for requests to a live server.
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        user = get_user_model().objects.get(username=args.get("user", "alice"))
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        return session.session_key
    if command == "table_token":
        from tethys_compute.gizmos import JobsTable

        jobs = list(TethysJob.objects.filter(pk__in=args["ids"]).select_subclasses())
        return JobsTable(jobs=jobs, column_fields=["id", "name"]).table_config().dumps()
    if command == "churn":
        # Another writer: read-then-write transactions on the jobs ``ids`` until the file
        # ``stop`` exists; writes ``stop.<pid>`` once the first one committed. Returns how
        # many committed and how many failed with "database is locked" (then retried).
        import time
        from pathlib import Path

        from django.db import OperationalError, transaction

        stop, commits, locked = Path(args["stop"]), 0, 0
        while not stop.exists():
            try:
                with transaction.atomic():
                    list(TethysJob.objects.filter(pk__in=args["ids"]).values_list("id", "status_message"))
                    TethysJob.objects.filter(pk__in=args["ids"]).update(status_message=f"churn {commits}")
                    time.sleep(0.01)  # holds the write lock a little, as a longer transaction would
            except OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                locked += 1
                continue
            commits += 1
            Path(f"{stop}.{os.getpid()}").touch()
            time.sleep(0.05)  # a busy writer, not one that never lets the lock go
        return {"commits": commits, "locked": locked}
    if command == "leases":
        return TethysJob.objects.filter(lease_owner__isnull=False).count()
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
