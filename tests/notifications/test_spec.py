"""Opting in: create_job(notify=...), the app's default, validation of the spec."""

from datetime import timedelta

import pytest

from tests.testapp.app import TestApp
from tethys_compute.notifications.spec import parse_notify

pytestmark = pytest.mark.django_db


def test_a_list_of_channels_means_the_status_events():
    spec = parse_notify(["email", "https://hooks.example.org/x"])
    assert spec["channels"] == [
        {"type": "email"},
        {"type": "webhook", "url": "https://hooks.example.org/x"},
    ]
    # Every event; the absence ones fire only where a threshold is set.
    assert spec["events"] == ["finished", "failed", "held", "retried", "no_progress",
                              "waiting"]


def test_a_dict_names_events_thresholds_and_per_endpoint_secrets(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE,
                               "NOTIFY_WEBHOOK_SECRETS": {"lab": "s3cret"}}
    spec = parse_notify({
        "channels": ["email", {"url": "http://h.example.org/y", "secret": "lab"}],
        "events": ["failed", "no_progress"],
        "no_progress_minutes": 30,
        "waiting_hours": 2,
    })
    assert spec["channels"][1] == {"type": "webhook", "url": "http://h.example.org/y",
                                   "secret": "lab"}
    assert spec["events"] == ["failed", "no_progress"]
    assert spec["no_progress_minutes"] == 30 and spec["waiting_hours"] == 2


@pytest.mark.parametrize("bad, words", [
    (["sms"], "sms"),
    ([{"url": "https://h.example.org/", "secret": "nope"}], "NOTIFY_WEBHOOK_SECRETS"),
    (["ftp://h.example.org/x"], "http or https"),
    (["https://"], "host"),
    ({"channels": ["email"], "events": ["exploded"]}, "exploded"),
    ({"channels": ["email"], "no_progress_minutes": -1}, "no_progress_minutes"),
    ({"channels": ["email"], "colour": "red"}, "colour"),
    (42, "notify"),
    # found by trial: these raised TypeError or OverflowError instead of ValueError
    ({"channels": ["email"], "events": 5}, "events"),
    ({"channels": 5}, "channels"),
    ({"channels": ["email"], "no_progress_minutes": float("inf")}, "no_progress_minutes"),
    ({"channels": ["email"], "waiting_hours": 1e300}, "waiting_hours"),
    # found by trial: no cap, each event of the job made one delivery per channel
    ([f"https://h{i}.example.org/" for i in range(1000)], "at most"),
])
def test_bad_specs_are_refused_naming_the_problem(bad, words):
    with pytest.raises(ValueError, match=words):
        parse_notify(bad)


def test_webhook_hosts_can_be_restricted(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE,
                               "NOTIFY_WEBHOOK_ALLOWED_HOSTS": ["hooks.example.org", ".lab.org"]}
    parse_notify(["https://hooks.example.org/a", "https://ci.lab.org/b"])
    with pytest.raises(ValueError, match="NOTIFY_WEBHOOK_ALLOWED_HOSTS"):
        parse_notify(["https://169.254.169.254/latest/meta-data"])


def test_create_job_stores_the_spec_and_thresholds(user):
    job = TestApp.get_job_manager().create_job(
        "n", user, job_type="BASIC",
        notify={"channels": ["email"], "events": ["finished", "no_progress", "waiting"],
                "no_progress_minutes": 20, "waiting_hours": 3})
    job.save()
    job.refresh_from_db()
    assert job.notify["channels"] == [{"type": "email"}]
    assert job.notify_no_progress == timedelta(minutes=20)
    assert job.notify_waiting == timedelta(hours=3)


def test_create_job_refuses_a_bad_spec(user):
    with pytest.raises(ValueError, match="sms"):
        TestApp.get_job_manager().create_job("n", user, job_type="BASIC", notify=["sms"])


def test_the_apps_default_applies_unless_the_job_says_otherwise(user, monkeypatch):
    monkeypatch.setattr(TestApp, "notify", ["email"], raising=False)
    manager = TestApp.get_job_manager()
    assert manager.create_job("a", user, job_type="BASIC").notify["channels"] == [
        {"type": "email"}]
    assert manager.create_job("b", user, job_type="BASIC", notify=[]).notify == {
        "channels": [], "events": []}


def test_settings_thresholds_are_the_default(user, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "NOTIFY_NO_PROGRESS_MINUTES": 45,
                               "NOTIFY_WAITING_HOURS": 6}
    job = TestApp.get_job_manager().create_job("a", user, job_type="BASIC", notify=["email"])
    assert job.notify_no_progress == timedelta(minutes=45)
    assert job.notify_waiting == timedelta(hours=6)


@pytest.mark.parametrize("key, value", [
    ("NOTIFY_WEBHOOK_TIMEOUT", 0),
    ("NOTIFY_MAX_TRIES", 1.5),
    ("NOTIFY_NO_PROGRESS_MINUTES", -5),
    ("NOTIFY_RATE_LIMIT", "ten"),
    ("NOTIFY_WEBHOOK_ALLOWED_HOSTS", "hooks.example.org"),
    ("NOTIFY_WEBHOOK_SECRETS", {"lab": ""}),
    ("NOTIFY_WEBHOOK_ALLOW_PRIVATE", "yes"),
])
def test_bad_settings_are_reported_by_check(settings, key, value):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, key: value}
    with pytest.raises(SystemCheckError, match=f"tethys_compute.E020.*{key}"):
        call_command("check")


@pytest.mark.parametrize("events", ["5", "true", '{"finished": 1}', '[["finished"]]'])
def test_the_documented_preference_form_refuses_bad_events(user, events):
    # Found by trial: docs/notifications.rst's own form raised TypeError (a 500) for
    # events that are not a list of names.
    from django.forms import modelform_factory

    from tethys_compute.models import NotificationPreference

    form_class = modelform_factory(
        NotificationPreference, fields=("enabled", "email", "webhook_url", "events"))
    preference, _ = NotificationPreference.objects.get_or_create(user=user)
    form = form_class({"enabled": "on", "email": "on", "webhook_url": "", "events": events},
                      instance=preference)
    assert not form.is_valid() and "events" in form.errors
