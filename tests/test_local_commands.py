"""run_command (tethys_compute/local_commands.py): a local command run for a Basic job,
its stdout and stderr in the job's directory, its status through the status rules."""

import sys
from pathlib import Path

import pytest

from tests.engines.dask.fixtures import wait_until
from tethys_compute.jobs_table import logs as table_logs
from tethys_compute.local_commands import run_command
from tethys_compute.models import BasicJob, JobStatusChange, TethysJob

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = """
import pathlib, sys, time
print("hello from the command", flush=True)
sys.stderr.write("careful now\\n")
flag = sys.argv[2] if len(sys.argv) > 2 else None
while flag and not pathlib.Path(flag).exists():
    time.sleep(0.02)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def basic_job(user):
    from tests.testapp.app import TestApp

    job = TestApp.get_job_manager().create_job("local", user, job_type="BASIC")
    job.save()
    return job


def command(code, flag=None):
    return [sys.executable, "-c", SCRIPT, str(code)] + ([str(flag)] if flag else [])


def reload(job):
    return TethysJob.objects.get_subclass(pk=job.pk)


def test_a_command_that_succeeds_completes_with_its_output_in_the_job_directory(basic_job):
    run = run_command(basic_job, command(0), wait=True)
    assert run.returncode == 0
    job = reload(basic_job)
    assert job.cached_status == "Complete"
    assert Path(job.workspace, "stdout.log").read_text() == "hello from the command\n"
    logs = job.get_logs()
    assert logs["stdout"]() == "hello from the command\n"
    assert logs["stderr"]() == "careful now\n"
    assert table_logs.content(logs, ["stdout"])["content"] == "hello from the command\n"
    path = [c.new_status for c in JobStatusChange.objects.filter(job=job).order_by("pk")]
    assert path == ["SUB", "RUN", "COM"]


def test_a_failing_command_is_error_naming_its_exit_code(basic_job):
    run = run_command(basic_job, command(3), wait=True)
    assert run.returncode == 3
    job = reload(basic_job)
    assert job.cached_status == "Error"
    assert "exit code 3" in job.status_message
    assert job.get_logs()["stderr"]() == "careful now\n"


def test_the_job_is_running_while_the_command_runs(basic_job, tmp_path):
    flag = tmp_path / "go"
    run = run_command(basic_job, command(0, flag))
    assert reload(basic_job).cached_status == "Running"
    wait_until(lambda: "hello" in reload(basic_job).get_logs()["stdout"](),
               message="the command's first line")
    flag.write_text("")
    assert run.wait(timeout=30) == 0
    assert reload(basic_job).cached_status == "Complete"


def test_a_killed_command_names_the_signal(basic_job, tmp_path):
    run = run_command(basic_job, command(0, tmp_path / "never"))
    wait_until(lambda: "hello" in reload(basic_job).get_logs()["stdout"]())
    run.process.kill()
    assert run.wait(timeout=30) == -9
    job = reload(basic_job)
    assert job.cached_status == "Error" and "SIGKILL" in job.status_message


def test_a_command_that_cannot_start_is_error_with_the_reason(basic_job, tmp_path):
    run = run_command(basic_job, [str(tmp_path / "no-such-program")], wait=True)
    assert run.returncode is None
    job = reload(basic_job)
    assert job.cached_status == "Error"
    assert "no-such-program" in job.status_message


def test_a_finished_job_is_refused(basic_job):
    run_command(basic_job, command(0), wait=True)
    with pytest.raises(Exception, match="resubmit"):
        run_command(reload(basic_job), command(0))


def test_bad_arguments_are_refused_clearly(basic_job):
    with pytest.raises(ValueError, match="list"):
        run_command(basic_job, "echo hi")
    assert reload(basic_job).cached_status == "Pending"


def test_a_basic_job_without_a_command_has_no_logs(user):
    job = BasicJob(name="plain", user=user, label="test_app")
    job.save()
    assert job.get_logs() == {}


def test_the_end_of_a_superseded_run_changes_nothing(basic_job, tmp_path):
    flag = tmp_path / "go"
    old = run_command(basic_job, command(0, flag))
    job = reload(basic_job)
    job.resubmit()  # a new run while the old command still runs
    assert reload(basic_job).cached_status == "Running"
    flag.write_text("")
    assert old.wait(timeout=30) == 0
    job = reload(basic_job)
    assert job.cached_status == "Running" and job.status_message is None


def test_stop_aborts_the_job_and_ends_its_command(basic_job, tmp_path):
    run = run_command(basic_job, command(0, tmp_path / "never"))
    wait_until(lambda: "hello" in reload(basic_job).get_logs()["stdout"]())
    reload(basic_job).stop()
    assert run.wait(timeout=30) == -15  # SIGTERM to the command's process group
    job = reload(basic_job)
    assert job.cached_status == "Aborted"


def test_a_run_over_its_run_time_is_failed_and_its_command_ended(basic_job, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from tethys_compute.models.run_limits import stop_overdue_runs

    TethysJob.objects.filter(pk=basic_job.pk).update(max_run_time=60)
    run = run_command(reload(basic_job), command(0, tmp_path / "never"))
    assert stop_overdue_runs(now=timezone.now() + timedelta(seconds=120)) == 1
    assert run.wait(timeout=30) == -15
    job = reload(basic_job)
    assert job.cached_status == "Error" and job.failure_kind == "walltime"


def test_a_recorded_pid_now_used_by_another_process_is_not_signalled(basic_job, tmp_path):
    import json
    import subprocess

    from tethys_compute.local_commands import COMMAND_RECORD, stop_command

    run = run_command(basic_job, command(0), wait=True)
    assert run.returncode == 0
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        record = Path(basic_job.workspace, COMMAND_RECORD)
        data = json.loads(record.read_text())
        record.write_text(json.dumps({**data, "pid": other.pid}))  # same pid, other start
        assert stop_command(reload(basic_job)) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_job_over_its_users_limit_waits_and_its_command_does_not_start(user, settings,
                                                                          tmp_path):
    # Found by trial: run_command executed the job (which then waited for a free slot)
    # and started the program anyway, moving the waiting job to Running: the per-user
    # limit did not hold for Basic jobs run with run_command.
    from tests.testapp.app import TestApp

    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ACTIVE_JOBS_PER_USER": 1}
    manager = TestApp.get_job_manager()
    running = manager.create_job("first", user, job_type="BASIC")
    running.save()
    running.execute()
    waiting = manager.create_job("second", user, job_type="BASIC")
    waiting.save()
    marker = tmp_path / "ran"
    run = run_command(waiting, [sys.executable, "-c",
                                f"open({str(marker)!r}, 'w').close()"], wait=True)
    row = reload(waiting)
    assert row._status == "PEN" and row.status_message.startswith("Waiting for a free slot")
    assert run.process is None and not marker.exists()
    assert "Waiting for a free slot" in run.error
    # as documented: once the monitor submitted it, run_command runs the program
    from tethys_compute import monitor

    TethysJob.objects.get_subclass(pk=running.pk).update_status("Complete")
    monitor.run_cycle()
    assert reload(waiting)._status == "SUB"
    run = run_command(TethysJob.objects.get_subclass(pk=waiting.pk),
                      [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"], wait=True)
    assert reload(waiting)._status == "COM" and marker.exists()


def test_a_resubmitted_job_keeps_its_first_runs_output(basic_job):
    # Issue 15 item 2: each run's logs are kept; the current run keeps the usual keys.
    run_command(basic_job, command(0), wait=True)
    job = reload(basic_job)
    first_attempt = job.attempt
    job.resubmit()
    script = [sys.executable, "-c", "print('second run here')"]
    run_command(reload(basic_job), script, wait=True)
    job = reload(basic_job)
    assert job.cached_status == "Complete"
    logs = job.get_logs()
    assert logs["stdout"]() == "second run here\n"
    earlier = logs[f"Run {first_attempt}"]
    assert earlier["stdout"]() == "hello from the command\n"
    assert earlier["stderr"]() == "careful now\n"
    assert Path(job.workspace, "runs", str(first_attempt), "stdout.log").is_file()
    assert table_logs.content(logs, [f"Run {first_attempt}", "stdout"])["content"] == \
        "hello from the command\n"
