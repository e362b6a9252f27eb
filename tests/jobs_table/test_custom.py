"""CustomJobAction and the registry of custom actions."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tethys_compute.gizmos import CustomJobAction
from tethys_compute.jobs_table import callables, custom
from tethys_compute.models import BasicJob, CondorJob, TethysJob

from . import actions_for_tests as acts
from . import other_app_actions

ROOT = Path(__file__).resolve().parents[2]


def test_requires_callback_or_modal_url_with_tethys_message():
    with pytest.raises(ValueError) as error:
        CustomJobAction("Nothing")
    assert str(error.value) == (
        'A CustomJobAction requires either the "callback_or_url" argument or the '
        '"modal_url" argument.'
    )


@pytest.mark.parametrize("callback", ["no_such_method", "_execute", 42])
def test_invalid_callbacks_with_tethys_message(callback):
    with pytest.raises(ValueError, match=f'The specified callback "{callback}" is not valid.'):
        CustomJobAction("Bad", callback)


@pytest.mark.django_db
def test_any_callable_tethys_accepts_works_in_the_building_process(make_job):
    """F16: lambdas, closures, bound methods and module functions, for both callbacks,
    behave in the process that built the table exactly as in Tethys."""
    threshold = {"name": "wanted"}

    def closure_archive(job):
        return f"closure {job.name}"

    class Service:
        def run(self, job):
            return f"bound {job.name}"

    for callback, expected in ((lambda job: f"lambda {job.name}", "lambda wanted"),
                               (closure_archive, "closure wanted"),
                               (Service().run, "bound wanted"),
                               (acts.archive, "Archived wanted.")):
        action = CustomJobAction("Do", callback,
                                 enabled_callback=lambda job, status: job.name == threshold["name"])
        assert custom.get_custom_action(action.name) is action
        job = make_job("wanted", status="COM")
        assert action.is_enabled(job) and not action.is_enabled(make_job("other"))
        assert action.perform(job) == expected
    assert CustomJobAction("Do", lambda job: None).properties["callback"] == "<lambda>"


def test_references_path_registered_or_local():
    by_path = CustomJobAction("A", acts.archive, enabled_callback=acts.not_archived)
    assert by_path.describe()["callback"] == "tests.jobs_table.actions_for_tests.archive"
    assert by_path.describe()["enabled"] == "tests.jobs_table.actions_for_tests.not_archived"
    registered = CustomJobAction("B", acts.archiver.archive,
                                 enabled_callback=acts.archiver.complete_only)
    assert registered.describe()["callback"] == {"registered": "tests.archiver.archive"}
    assert registered.describe()["enabled"] == {"registered": "tests.archiver.complete_only"}
    local = CustomJobAction("C", acts.Archiver("x").archive, enabled_callback=lambda j, s: True)
    assert local.describe()["callback"] == {
        "local": f"{acts.__name__}.Archiver.archive:{acts.Archiver.archive.__code__.co_firstlineno}"}
    assert local.describe()["enabled"]["local"].startswith(
        f"{__name__}.test_references_path_registered_or_local.<locals>.<lambda>:")
    assert not by_path.carries_enabled and registered.carries_enabled and local.carries_enabled


@pytest.mark.django_db
def test_latest_table_built_wins_for_local_callables_as_tethys(make_job):
    """Tethys sets the callable on the class each time a table is built: the latest
    build wins in that process. A closure rebuilt per request keeps its action name."""
    job = make_job("j", status="COM")

    def build(answer):
        return CustomJobAction("Check", acts.archive, enabled_callback=lambda j, s: answer)

    first, second = build(True), build(False)
    assert first.name == second.name
    assert custom.get_custom_action(first.name) is second
    assert not custom.get_custom_action(first.name).is_enabled(job)


@pytest.mark.django_db
def test_local_callables_in_a_process_that_never_built_the_table(make_job, monkeypatch, caplog):
    action = CustomJobAction("Tidy", lambda job: "tidied",
                             enabled_callback=lambda job, status: True)
    description = action.describe()
    monkeypatch.setattr(custom, "_registry", {})
    monkeypatch.setattr(callables, "_warned", set())
    rebuilt = custom.get_custom_action(action.name, description)
    assert rebuilt.name == action.name and not rebuilt.enabled_available
    job = make_job(status="COM")
    with caplog.at_level(logging.WARNING, logger="tethys_compute.jobs_table"):
        assert rebuilt.is_enabled(job, carried=True) is True
        assert rebuilt.is_enabled(job, carried=False) is False
        assert rebuilt.is_enabled(job) is False  # nothing carried: not offered
        with pytest.raises(custom.ActionUnavailable):
            rebuilt.perform(job)
        with pytest.raises(custom.ActionUnavailable):
            rebuilt.perform(job)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once for the enabled_callback, once for the callback
    assert all('custom action "Tidy"' in w and "register_action_callable" in w
               for w in warnings)
    # Not kept: a process that later builds the table holds the real callables.
    assert action.name not in custom.registered_actions()


@pytest.mark.django_db
def test_registered_callables_work_in_a_process_that_never_built_the_table(make_job,
                                                                           monkeypatch):
    action = CustomJobAction("File", acts.archiver.archive,
                             enabled_callback=acts.archiver.complete_only)
    monkeypatch.setattr(custom, "_registry", {})
    rebuilt = custom.get_custom_action(action.name, action.describe())
    assert rebuilt is not action and rebuilt.enabled_available
    job = make_job("report", status="COM")
    assert rebuilt.is_enabled(job) and not rebuilt.is_enabled(make_job(status="RUN"))
    assert rebuilt.perform(job) == "Filed report."


def test_register_action_callable_rules():
    from tethys_compute.jobs_table import register_action_callable

    with pytest.raises(ValueError, match="Give .* a name"):
        register_action_callable(lambda job: None)
    with pytest.raises(ValueError, match="already registered"):
        register_action_callable(acts.archive, name="tests.archiver.archive")
    with pytest.raises(ValueError, match="Only callables"):
        register_action_callable(42, name="x")
    # Registering again (a module imported twice) is harmless; usable as a decorator.
    assert register_action_callable(acts.archiver.archive, name="tests.archiver.archive") \
        == acts.archiver.archive

    @register_action_callable(name="tests.decorated")
    def decorated(job):
        return "decorated"

    assert callables.resolve({"registered": "tests.decorated"}) is decorated


def test_kinds_and_tethys_properties():
    method = CustomJobAction("Stop it", "stop", job_type=BasicJob)
    assert method.kind == "callback" and method.callback == "stop"
    link = CustomJobAction("Open", "/jobs/{job_id}/open/")
    assert link.kind == "link" and link.url == "/jobs/{job_id}/open/" and link.callback is None
    modal = CustomJobAction("Details", modal_url="/details/{job_id}/", show_overlay=True,
                            confirmation_message="Sure?")
    assert modal.kind == "modal"
    assert modal.properties == {"callback": None, "url": None, "modal_url": "/details/{job_id}/",
                                "confirmation_message": "Sure?", "show_overlay": True}
    with pytest.raises(ValueError, match="job_type must be a TethysJob subclass"):
        CustomJobAction("X", acts.archive, job_type=dict)


def test_nothing_is_attached_to_job_classes():
    before = {klass: set(vars(klass)) for klass in (TethysJob, BasicJob)}
    CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived)
    CustomJobAction("Stop it", "stop", enabled_callback=acts.only_complete, job_type=BasicJob)
    assert {klass: set(vars(klass)) for klass in (TethysJob, BasicJob)} == before


def test_same_label_and_function_name_in_two_apps_do_not_overwrite_each_other(monkeypatch):
    monkeypatch.setattr(custom, "_registry", {})  # other tests may have built "Archive" too
    mine = CustomJobAction("Archive", acts.archive)
    theirs = CustomJobAction("Archive", other_app_actions.archive)
    assert mine.name != theirs.name
    assert mine.name.startswith("archive-") and theirs.name.startswith("archive-")
    assert custom.get_custom_action(mine.name).callback_function is acts.archive
    assert custom.get_custom_action(theirs.name).callback_function is other_app_actions.archive
    # Building the same action again is idempotent: same name, first object kept.
    again = CustomJobAction("Archive", acts.archive)
    assert again.name == mine.name
    assert custom.get_custom_action(mine.name) is mine


def test_unknown_name_needs_a_matching_description(monkeypatch):
    action = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived)
    description = action.describe()
    monkeypatch.setattr(custom, "_registry", {})
    with pytest.raises(KeyError):
        custom.get_custom_action("archive-0000000000000000")
    forged = dict(description, callback="os.system")
    with pytest.raises(KeyError):
        custom.get_custom_action(action.name, forged)


def test_rebuilt_in_a_process_that_never_built_it(monkeypatch):
    action = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived,
                             confirmation_message="Archive it?")
    monkeypatch.setattr(custom, "_registry", {})
    rebuilt = custom.get_custom_action(action.name, action.describe())
    assert rebuilt is not action and rebuilt.name == action.name
    assert rebuilt.callback_function is acts.archive
    assert rebuilt.enabled_callback is acts.not_archived
    assert custom.get_custom_action(action.name) is rebuilt


def test_rebuilt_in_a_fresh_interpreter():
    """A separate Python process (a second web worker) rebuilds the action from the
    description the table carries and registers it under the same name."""
    action = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived)
    script = (
        "import django, json, sys; django.setup();"
        "from tethys_compute.jobs_table import custom;"
        "d = json.loads(sys.argv[1]); a = custom.get_custom_action(sys.argv[2], d);"
        "print(a.name, a.callback_function.__module__, a.callback_function.__name__)"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(action.describe()), action.name],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=True,
    ).stdout.split()
    assert out == [action.name, "tests.jobs_table.actions_for_tests", "archive"]


@pytest.mark.django_db
def test_enabled_depends_on_job_type_and_callback(make_job):
    job = make_job(status="COM")
    assert CustomJobAction("A", acts.archive, enabled_callback=acts.only_complete).is_enabled(job)
    assert not CustomJobAction("A", acts.archive, job_type=CondorJob).is_enabled(job)
    running = make_job(status="RUN")
    assert not CustomJobAction("A", acts.archive, enabled_callback=acts.only_complete).is_enabled(
        running)


@pytest.mark.django_db
def test_perform_calls_function_method_and_async_function(make_job):
    job = make_job("report")
    assert CustomJobAction("A", acts.archive).perform(job) == "Archived report."
    assert BasicJob.objects.get(pk=job.pk).extended_properties["archived"] is True
    job2 = make_job("async")
    assert CustomJobAction("B", acts.async_archive).perform(job2) == "Archived async."
    job3 = make_job(status="RUN")
    CustomJobAction("Halt", "stop", job_type=BasicJob).perform(job3)
    assert BasicJob.objects.get(pk=job3.pk).cached_status == "Aborted"


def test_registry_is_bounded_and_dropped_entries_are_rebuilt(monkeypatch):
    monkeypatch.setattr(custom, "_registry", {})
    monkeypatch.setattr(custom, "REGISTRY_SIZE", 3)
    first = CustomJobAction("Archive", acts.archive, confirmation_message="Archive 0 jobs?")
    for count in range(1, 5):
        CustomJobAction("Archive", acts.archive, confirmation_message=f"Archive {count} jobs?")
    assert len(custom.registered_actions()) == 3
    assert first.name not in custom.registered_actions()
    assert custom.get_custom_action(first.name, first.describe()).confirmation_message == (
        "Archive 0 jobs?")
