"""Soak test of the job lifecycle under real concurrency (issue 12; not run in CI).

    PGPORT=55443 .ci/with-postgres .venv/bin/python benchmarks/soak_lifecycle.py \
        [--seconds 180] [--jobs 24] [--seed 1]

On PostgreSQL (``.ci/with-postgres``; SQLite works too, without it). Starts a live
server (``runserver``, threaded) and two monitors (``tethys_compute_monitor``) on one
database, with jobs of the test app's ``FakeEngineJob`` (its file-backed scheduler is
shared by all processes; each run is a new engine job). Then, for ``--seconds``:

* a runner presses Run twice at once (two concurrent requests) on Pending jobs;
* three reporters act as compute nodes: they move engine jobs queued -> running -> done
  and report Running / Complete through ``report-job-status`` (or leave it to the
  monitors), and now and then report ``Pending`` for a submitted job;
* two pollers poll the jobs table (which refreshes stale jobs from the engine);
* chaos presses Resubmit (sometimes twice at once) and Delete on finished jobs at random
  (a deleted job is replaced by a new one).

Every results function run appends ``job run`` to a log, every ``job_finished`` too (in
every process). Then everything still running is finished and, once all jobs settled,
the script checks and prints: each run submitted once (engine journal), each completed
run's results processed exactly once and ``job_finished`` sent once per run and never
while the job ran again, no engine job orphaned (running with no row whose current run
it is), no finished job reopened except by resubmit, no submitted job made Pending by a
report. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup  # noqa: E402

CSRF = "s" * 32
TERMINAL = ("COM", "ERR", "ABT", "VCP", "RES")


class Soak:
    def __init__(self, args, scratch):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from tests.testapp.engine import FakeEngine
        from tests.testapp.shared_db import TestDatabaseProject

        self.args = args
        self.rng = random.Random(args.seed)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = Counter()
        self.results_log = scratch / "results.log"
        self.finished_log = scratch / "finished.log"
        self.user, _ = get_user_model().objects.get_or_create(username="soak")
        client = Client()
        client.force_login(self.user)
        self.cookie = client.cookies["sessionid"].value
        self.project = TestDatabaseProject(
            scratch, {"UPDATE_STATUS_INTERVAL": 0.5, "MONITOR_INTERVAL": 1,
                      "RESULTS_LEASE": 5, "RESUBMIT_WAIT": 10, "CALLBACK_REFRESH_TIMEOUT": 1},
            SOAK_RESULTS_LOG=self.results_log, SOAK_FINISHED_LOG=self.finished_log)
        self.engine = FakeEngine(self.project.engine_dir)
        self.deleted = {}  # pk -> attempt when deleted
        for _ in range(args.jobs):
            self.new_job()
        self.config = self.table_config()

    # --- set-up helpers ----------------------------------------------------------------
    def new_job(self):
        from tests.testapp.models import FakeEngineJob

        job = FakeEngineJob(name="soak {id}", user=self.user, label="test_app",
                            scheduler_name="alpha")
        job.process_results_function = "tests.testapp.results.soak_record"
        job.save()
        return job

    def table_config(self):
        from tethys_compute.gizmos import JobsTable
        from tethys_compute.models import TethysJob

        jobs = list(TethysJob.objects.filter(user=self.user)[:1])
        return JobsTable(jobs=jobs, column_fields=["id", "name"],
                         actions=["run", "resubmit", "delete"]).table_config().dumps()

    def rows(self, **filters):
        from tethys_compute.models import TethysJob

        return list(TethysJob.objects.filter(user=self.user, **filters)
                    .select_subclasses().order_by("?")[:50])

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    # --- HTTP -----------------------------------------------------------------------------
    def press(self, job_id, action):
        headers = {"Cookie": f"sessionid={self.cookie}; csrftoken={CSRF}",
                   "X-CSRFToken": CSRF}
        data = {"config": self.config, "job_id": job_id, "action": action}
        try:
            return self.server.request("POST", "/jobs-table/action/", data=data,
                                       headers=headers)[0]
        except OSError:
            return "error"

    def press_twice(self, job_id, action):
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(self.press(job_id, action)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return tuple(sorted(map(str, answers)))

    def report(self, job, status):
        try:
            return self.server.request(
                "POST", f"/report-job-status/{job.pk}/",
                json_body={"status": status, "attempt": job.attempt},
                headers={"Authorization": f"Bearer {job.status_report_token}"})[0]
        except OSError:
            return "error"

    # --- actors ----------------------------------------------------------------------------
    def runner(self):
        while not self.stop.is_set():
            for job in self.rows(_status="PEN", execute_time__isnull=True)[:3]:
                self.count(f"Run pressed twice, answers {self.press_twice(job.pk, 'run')}")
            time.sleep(0.2)

    def reporter(self, rng):
        while not self.stop.is_set():
            jobs = self.rows(_status__in=("SUB", "RUN"))
            if not jobs:
                time.sleep(0.1)
                continue
            job = jobs[0]
            if not job.key:
                continue
            if rng.random() < 0.05:
                self.count(f"Pending reported for a submitted job, answer {self.report(job, 'PEN')}")
                continue
            if not self.move(job.key, "queued", "running"):
                continue  # another reporter has it, or it ended
            if rng.random() < 0.5:
                self.count(f"Running reported, answer {self.report(job, 'RUN')}")
            time.sleep(rng.random() * 0.5)
            self.move(job.key, "running", "done")
            if rng.random() < 0.7:
                self.count(f"Complete reported, answer {self.report(job, 'COM')}")

    def move(self, key, old, new):
        """Move engine job ``key`` from state ``old`` to ``new`` (what the compute node
        does); False when it is not in ``old``."""
        with self.engine._locked():
            data = self.engine._load("alpha")
            if data["jobs"].get(key) != old:
                return False
            data["jobs"][key] = new
            self.engine._store("alpha", data)
        return True

    def poller(self):
        from tethys_compute.models import TethysJob

        while not self.stop.is_set():
            ids = TethysJob.objects.filter(user=self.user).values_list("pk", flat=True)
            try:
                self.server.request("POST", "/jobs-table/poll/", json_body={
                    "config": self.config, "rows": {str(pk): "" for pk in ids}},
                    headers={"Cookie": f"sessionid={self.cookie}; csrftoken={CSRF}",
                             "X-CSRFToken": CSRF})
                self.count("table polls")
            except OSError:
                self.count("table polls failed")
            time.sleep(0.3)

    def chaos(self, rng):
        while not self.stop.is_set():
            time.sleep(rng.random() * 0.6)
            jobs = self.rows(_status__in=TERMINAL)
            if not jobs:
                continue
            job, roll = jobs[0], rng.random()
            if roll < 0.35:
                self.count(f"Resubmit pressed, answer {self.press(job.pk, 'resubmit')}")
            elif roll < 0.5:
                self.count(f"Resubmit pressed twice, answers "
                           f"{self.press_twice(job.pk, 'resubmit')}")
            elif roll < 0.7:
                attempt = job.attempt
                answer = self.press(job.pk, "delete")
                self.count(f"Delete pressed, answer {answer}")
                if answer == 200:
                    with self.lock:
                        self.deleted[job.pk] = attempt
                    self.new_job()

    # --- the run ---------------------------------------------------------------------------
    def run(self):
        self.server = self.project.start_server()
        monitors = [self.project.spawn(f"monitor{n}", "tethys_compute_monitor",
                                       "--interval", "1") for n in range(2)]
        threads = [threading.Thread(target=self.runner),
                   threading.Thread(target=self.chaos, args=(random.Random(self.rng.random()),)),
                   *[threading.Thread(target=self.reporter, args=(random.Random(self.rng.random()),))
                     for _ in range(3)],
                   *[threading.Thread(target=self.poller) for _ in range(2)]]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            self.stop.wait(self.args.seconds)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(60)
        self.orphans = self.find_orphans()
        for key in self.orphans:
            print(f"orphaned engine job {key}: {self.describe(key)}")
        settled = self.drain()
        self.elapsed = time.monotonic() - started
        for process in [self.server.process, *monitors]:
            self.project.stop(process, sig=2)
        return settled

    def find_orphans(self):
        """Engine jobs queued or running that are no row's current run."""
        from tethys_compute.models import TethysJob

        current = {job.key for job in TethysJob.objects.select_subclasses()
                   if getattr(job, "key", None) and job._status not in TERMINAL}
        jobs = self.engine._load("alpha")["jobs"]
        return sorted(key for key, state in jobs.items()
                      if state in ("queued", "running") and key not in current)

    def describe(self, key):
        from tethys_compute.models import JobStatusChange, TethysJob

        pk = int(key.split("-")[1].split(".")[0])
        job = TethysJob.objects.filter(pk=pk).select_subclasses().first()
        if job is None:
            return f"job {pk} deleted (at run {self.deleted.get(pk)})"
        history = list(JobStatusChange.objects.filter(job_id=pk).order_by("id")
                       .values_list("old_status", "new_status", "reason"))
        return f"job {pk} {job._status} run {job.attempt} key {job.key}; {history}"

    def drain(self, timeout=120):
        """Finish every run still going: Run the Pending jobs, end their engine jobs, and
        wait until every job is finished and processed (the monitors do the rest)."""
        from tethys_compute.models import TethysJob

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for job in self.rows(_status="PEN", execute_time__isnull=True):
                self.press(job.pk, "run")
            for job in TethysJob.objects.filter(user=self.user).select_subclasses():
                if job._status in ("SUB", "RUN") and job.key:
                    self.move(job.key, "queued", "done") or self.move(job.key, "running", "done")
            unsettled = TethysJob.objects.filter(user=self.user).exclude(
                _status__in=("COM", "ERR", "ABT", "VCP"), completion_time__isnull=False)
            if not unsettled.exists():
                return True
            time.sleep(0.5)
        return False

    # --- checks ----------------------------------------------------------------------------
    def check(self, settled):
        from tethys_compute import status as st
        from tethys_compute.models import JobStatusChange, TethysJob

        rows = list(TethysJob.objects.filter(user=self.user))
        runs_started = sum(job.attempt for job in rows) + sum(self.deleted.values())
        submitted = Counter(self.engine.submissions())
        processed = Counter(tuple(line.split()[:2]) for line in
                            self.results_log.read_text().splitlines()) \
            if self.results_log.exists() else Counter()
        finished_lines = [line.split() for line in self.finished_log.read_text().splitlines()] \
            if self.finished_log.exists() else []
        finished = Counter((pk, attempt) for pk, attempt, *_ in finished_lines)
        completed_runs = [(str(job.pk), str(job.attempt)) for job in rows
                          if job._status in ("COM", "VCP") and job.completion_time]
        reopened = pending_by_report = 0
        for job in rows:
            history = JobStatusChange.objects.filter(job_id=job.pk).order_by("id")
            for change in history:
                if (change.old_status in st.TERMINAL_STATUS_CODES
                        and change.new_status not in st.TERMINAL_STATUS_CODES
                        and change.reason != "resubmit"):
                    reopened += 1
                if change.new_status == st.PENDING and change.reason != "resubmit":
                    pending_by_report += 1
        checks = {
            "every job settled (finished, results processed)": settled,
            "runs submitted more than once": sum(1 for n in submitted.values() if n > 1) == 0,
            "runs submitted == runs started": sum(submitted.values()) == runs_started,
            "runs whose results were processed more than once":
                sum(1 for n in processed.values() if n > 1) == 0,
            "completed runs whose results were never processed":
                sum(1 for run in completed_runs if run not in processed) == 0,
            "runs with job_finished sent more than once":
                sum(1 for n in finished.values() if n > 1) == 0,
            # The row read by the receiver: its run active again (not a later run started
            # by a resubmit since) means the signal was sent for a run that did not end.
            "job_finished sent while its run was still active":
                sum(1 for line in finished_lines
                    if line[3] in st.NON_TERMINAL_STATUS_CODES and line[4] == line[1]) == 0,
            "engine jobs orphaned": not self.orphans,
            "finished jobs reopened (not by resubmit)": reopened == 0,
            "jobs made Pending by anything but resubmit": pending_by_report == 0,
        }
        figures = {
            "seconds": round(self.elapsed, 1),
            "jobs now / deleted": f"{len(rows)} / {len(self.deleted)}",
            "runs started": runs_started,
            "engine submissions": sum(submitted.values()),
            "completed runs now": len(completed_runs),
            "results processed (runs)": len(processed),
            "job_finished sent": len(finished_lines),
            "engine jobs orphaned": len(self.orphans),
            "finished jobs reopened": reopened,
        }
        print(f"Soak of the job lifecycle on {self.database()}:")
        for name, value in figures.items():
            print(f"  {name:<40} {value}")
        for name, value in sorted(self.counts.items()):
            print(f"  {name:<70} {value}")
        print("Checks:")
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'FAIL'} {name}")
        return all(checks.values())

    @staticmethod
    def database():
        from django.db import connection

        return connection.vendor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    scratch = setup()
    soak = Soak(args, scratch)
    try:
        settled = soak.run()
    finally:
        soak.project.stop_all()
    ok = soak.check(settled)
    print(json.dumps({"ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
