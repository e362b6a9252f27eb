"""CustomJobAction and the registry of custom actions."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tethys_compute.gizmos import CustomJobAction
from tethys_compute.jobs_table import custom
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


def test_lambda_and_nested_functions_are_refused_clearly():
    with pytest.raises(ValueError, match="must be a module-level function"):
        CustomJobAction("Bad", lambda job: None)

    def nested(job):
        return None

    with pytest.raises(ValueError, match="must be a module-level function"):
        CustomJobAction("Bad", nested)
    with pytest.raises(ValueError, match="must be a module-level function"):
        CustomJobAction("Bad", acts.archive, enabled_callback=lambda job, status: True)


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


def test_same_label_and_function_name_in_two_apps_do_not_overwrite_each_other():
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
