import pytest
from django.core.checks import run_checks

from tethys_compute.conf import get_config, workspaces_root

# Django 6.1's JSONField check asks the database whether it supports JSON, even for
# run_checks() without databases: it failed when this module ran on its own.
pytestmark = pytest.mark.django_db


def ids(settings):
    return sorted(m.id for m in run_checks() if m.id and m.id.startswith("tethys_compute"))


def test_clean_project_has_no_messages(settings):
    assert ids(settings) == []


def test_not_a_dict(settings):
    settings.TETHYS_COMPUTE = ["oops"]
    assert ids(settings) == ["tethys_compute.E001"]


def test_unknown_key(settings):
    settings.TETHYS_COMPUTE = {"UPDATE_STATUS_INTERVALL": 5}
    assert ids(settings) == ["tethys_compute.W002"]


def test_bad_time(settings):
    settings.TETHYS_COMPUTE = {"UPDATE_STATUS_INTERVAL": "ten", "RESULTS_LEASE": -1}
    assert ids(settings) == ["tethys_compute.E004", "tethys_compute.E004"]


def test_engine_with_missing_package(settings, monkeypatch):
    import tethys_compute.checks as checks

    real = checks.find_spec
    monkeypatch.setattr(checks, "find_spec", lambda name: None if name == "distributed" else real(name))
    settings.TETHYS_COMPUTE = {"ENGINES": ["dask", "condor"]}
    messages = [m for m in run_checks() if m.id == "tethys_compute.E003"]
    assert len(messages) == 1 and "distributed" in messages[0].msg
    assert "tethys-compute[dask]" in messages[0].hint


def test_unknown_engine(settings):
    settings.TETHYS_COMPUTE = {"ENGINES": ["slurm"]}
    assert ids(settings) == ["tethys_compute.E005"]


def test_config_is_rebuilt_on_setting_change(settings, tmp_path):
    settings.TETHYS_COMPUTE = {"UPDATE_STATUS_INTERVAL": 3}
    assert get_config()["UPDATE_STATUS_INTERVAL"] == 3
    assert get_config()["RESULTS_LEASE"] == 600
    settings.TETHYS_COMPUTE = {"WORKSPACES_ROOT": str(tmp_path)}
    assert get_config()["UPDATE_STATUS_INTERVAL"] == 10
    assert workspaces_root() == tmp_path


def test_workspaces_root_fallbacks(settings, tmp_path):
    settings.TETHYS_COMPUTE = {}
    settings.TETHYS_WORKSPACES_ROOT = str(tmp_path / "tethys")
    assert workspaces_root() == tmp_path / "tethys"
    del settings.TETHYS_WORKSPACES_ROOT
    settings.BASE_DIR = tmp_path
    assert workspaces_root() == tmp_path / "workspaces"


def test_bad_callback_and_monitor_settings(settings):
    settings.TETHYS_COMPUTE = {
        "CALLBACK_REFRESH_TIMEOUT": 0,
        "MONITOR_LEASE": "long",
        "CALLBACK_REFRESH_WORKERS": 2.5,
        "MONITOR_BATCH_SIZE": 0,
    }
    messages = [m for m in run_checks() if m.id == "tethys_compute.E004"]
    assert len(messages) == 4
    assert any("MONITOR_BATCH_SIZE" in m.msg and "whole number" in m.msg for m in messages)


def test_good_callback_and_monitor_settings(settings):
    settings.TETHYS_COMPUTE = {"CALLBACK_REFRESH_TIMEOUT": 0.5, "CALLBACK_MAX_DELAY": 60,
                               "MONITOR_INTERVAL": 2, "MONITOR_LEASE": 120,
                               "CALLBACK_REFRESH_WORKERS": 8, "MONITOR_BATCH_SIZE": 500,
                               "LOST_JOB_GRACE": 900}
    assert ids(settings) == []


def test_engines_must_be_a_list(settings):
    settings.TETHYS_COMPUTE = {"ENGINES": "dask"}
    assert ids(settings) == ["tethys_compute.E005"]


def test_jobs_table_numbers_are_checked(settings):
    settings.TETHYS_COMPUTE = {"JOBS_TABLE_REFRESH_BATCH": "20", "JOBS_TABLE_REFRESH_BUDGET": 0}
    assert ids(settings) == ["tethys_compute.E004", "tethys_compute.E004"]


def test_dask_intervals_may_be_zero_but_not_text(settings):
    settings.TETHYS_COMPUTE = {"DASK_UPDATE_STATUS_INTERVAL": 0, "DASK_CALLBACK_MIN_INTERVAL": 0}
    assert ids(settings) == []
    settings.TETHYS_COMPUTE = {"DASK_UPDATE_STATUS_INTERVAL": "x", "DASK_CALLBACK_MIN_INTERVAL": -1}
    assert ids(settings) == ["tethys_compute.E004", "tethys_compute.E004"]


def test_retry_and_quota_settings_are_checked(settings):
    # Found by trial: RETRY_ON="lost" (a string, not a list) silently retried nothing
    # (its letters were taken as kinds); a text limit raised inside execute().
    settings.TETHYS_COMPUTE = {"MAX_ATTEMPTS": 3, "RETRY_DELAY": 0, "RETRY_DELAY_CAP": 600,
                               "RETRY_ON": ["lost", "memory"], "MAX_ACTIVE_JOBS_PER_USER": 4}
    assert ids(settings) == []
    settings.TETHYS_COMPUTE = {"MAX_ATTEMPTS": 0, "RETRY_DELAY": -1, "RETRY_DELAY_CAP": "1h",
                               "RETRY_ON": "lost", "MAX_ACTIVE_JOBS_PER_USER": "five"}
    messages = [m for m in run_checks() if m.id == "tethys_compute.E004"]
    assert len(messages) == 5
    text = " ".join(m.msg for m in messages)
    for key in ("MAX_ATTEMPTS", "RETRY_DELAY", "RETRY_DELAY_CAP", "RETRY_ON",
                "MAX_ACTIVE_JOBS_PER_USER"):
        assert f'"{key}"' in text
    settings.TETHYS_COMPUTE = {"RETRY_ON": ["lost", "bogus"]}
    assert "bogus" in " ".join(m.msg for m in run_checks() if m.id == "tethys_compute.E004")
