"""Every bad argument of the management commands is a CommandError naming the problem:
never a traceback, a busy loop or a database error (SQLite and PostgreSQL)."""

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

HUGE = "9" * 40


def test_list_limit_too_large_is_a_command_error(run):
    with pytest.raises(CommandError, match="--limit"):
        run("tethys_compute_jobs", "list", "--limit", HUGE)
    with pytest.raises(CommandError, match="--limit"):
        run("tethys_compute_jobs", "list", "--limit", "-1")


@pytest.mark.parametrize("days", ["nan", "inf", "-inf", "1e300", "-1", "3000000"])
def test_prune_older_than_must_be_a_sensible_number_of_days(run, days):
    with pytest.raises(CommandError, match="--older-than"):
        run("tethys_compute_jobs", "prune", "--older-than", days)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3", "1e300"])
def test_monitor_interval_must_be_a_finite_positive_number(value):
    result = {}

    def monitor():
        try:
            call_command("tethys_compute_monitor", "--interval", value)
        except BaseException as exc:  # noqa: BLE001 - what the command raised is checked
            result["raised"] = exc

    # A busy loop (nan) would never return: run it in a thread and wait a bounded time.
    thread = threading.Thread(target=monitor, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), f"--interval {value} did not return"
    assert isinstance(result.get("raised"), CommandError), result
    assert "--interval" in str(result["raised"])


def test_monitor_interval_given_directly_is_checked_too():
    with pytest.raises(CommandError, match="--interval"):
        call_command("tethys_compute_monitor", interval=float("nan"))


@pytest.mark.parametrize("args", [
    ("show", HUGE), ("show", str(2**63)), ("terminate", str(2**64)),
    ("list", "--search", "a\x00b"), ("list", "--app", "a\x00"), ("list", "--user", "\x00"),
    ("list", "--created-after", "0001-01-01T00:00:00+14:00"),
])
def test_jobs_command_other_bad_arguments(run, args):
    with pytest.raises(CommandError):
        run("tethys_compute_jobs", *args)


@pytest.mark.parametrize("args", [
    ("test", HUGE), ("remove", "a\x00b", "-f"), ("settings", "--app", "x\x00"),
    ("link", "\x00", "test_app:x"), ("link", HUGE, "test_app:x"),
])
def test_schedulers_command_bad_arguments(run, args):
    with pytest.raises(CommandError):
        run("tethys_compute_schedulers", *args)


def test_removing_a_scheduler_id_beyond_the_column_removes_nothing(run):
    assert "Nothing was removed" in run("tethys_compute_schedulers", "remove", HUGE, "-f").out
