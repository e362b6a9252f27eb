"""F10: after ``save()`` a CondorJob's or CondorWorkflowJobNode's stored attributes are
condorpy 0.7.0's normalised strings, and ``get_attribute`` answers as condorpy's
``Job.get``. Checked against condorpy itself: the same job is built with ``condorpy.Job``
and the two are compared (Aquaveo's apps parse these strings with ``split``)."""

import copy

import condorpy
import pytest

from tethys_compute.models import CondorJob, CondorPyJob, CondorWorkflow, CondorWorkflowJobNode

pytestmark = pytest.mark.django_db

# Values of the kinds Aquaveo's atcore / workflows / tRIBS nodes hold.
ATTRIBUTES = {
    "executable": "run_model.py",
    "transfer_input_files": ["../params.json", "../mesh file.h5", "inputs/"],
    "transfer_output_files": ("results.json", "summary.txt"),
    "arguments": ["--scenario", "base case", 3, "it's", 'say "hi"', "tab\there"],
    "request_cpus": 4,
    "request_memory": "2 GB",
    "getenv": True,
    "should_transfer_files": False,
    "environment": "MODEL_HOME=/opt/model",
    "log": "$(logdir)/$(job_name).log",
}
SET_LATER = [
    ("transfer_input_files", ["a.txt", "b.txt", "c d.txt"]),
    ("arguments", ("x", "y z")),
    ("max_retries", 2),
    ("stream_output", False),
]


def reference_job(name, template, attributes, set_later=()):
    """The job condorpy itself builds from the same inputs (as Tethys does)."""
    merged = dict(CondorPyJob.get_condorpy_template(template)) if template else {}
    merged.update(copy.deepcopy(attributes))
    job = condorpy.Job(name=name.replace(" ", "_"), attributes=merged)
    for key, value in set_later:
        job.set(key, copy.deepcopy(value))
    return job


def as_stored(instance):
    return type(instance).objects.get(pk=instance.pk)


@pytest.mark.parametrize("set_later", [[], SET_LATER], ids=["constructor", "set_attribute"])
@pytest.mark.parametrize("template", [None, "vanilla_transfer_files", "base"])
def test_condor_job_stores_condorpy_normalised_strings(user, template, set_later):
    kwargs = {"condorpy_template_name": template} if template else {}
    job = CondorJob(name="Run Model", user=user, label="test_app", workspace="/tmp/ws",
                    attributes=copy.deepcopy(ATTRIBUTES), **kwargs)
    for key, value in set_later:
        job.set_attribute(key, copy.deepcopy(value))
    job.save()
    expected = reference_job("Run Model", template, ATTRIBUTES, set_later)
    for stored in (job, as_stored(job)):
        assert dict(stored._attributes) == dict(expected.attributes)
        assert stored.attributes["job_name"] == "Run_Model"
        for key in expected.attributes:
            if isinstance(expected.attributes[key], int):
                continue  # condorpy's get raises TypeError on ints; no client asks
            assert stored.get_attribute(key) == expected.get(key), key
        assert stored.get_attribute("not_there") is None


def test_separators_are_what_the_clients_split_on(user):
    job = CondorJob(name="seps", user=user, label="test_app", workspace="/tmp/ws",
                    attributes=copy.deepcopy(ATTRIBUTES))
    job.save()
    stored = as_stored(job)
    assert stored.get_attribute("transfer_input_files").split(",") == [
        "../params.json", " ../mesh file.h5", " inputs/"]
    assert stored._attributes["arguments"] == (
        "--scenario 'base case' 3 it''s 'say \"\"hi\"\"' 'tab\there'")
    assert stored._attributes["request_cpus"] == 4
    assert stored._attributes["getenv"] == "true"
    assert stored._attributes["should_transfer_files"] == "false"
    assert stored.get_attribute("should_transfer_files") == "false"
    assert stored.get_attribute("log") == reference_job("seps", None, ATTRIBUTES).get("log")


def test_workflow_node_constructor_attributes_are_normalised_on_save(user):
    workflow = CondorWorkflow(name="wf", user=user, label="test_app", workspace="/tmp/wf")
    workflow.save()
    node = CondorWorkflowJobNode(name="run", workflow=workflow, condorpy_template_name="base",
                                 attributes=copy.deepcopy(ATTRIBUTES))
    node.save()
    assert dict(as_stored(node)._attributes) == dict(
        reference_job("run", "base", ATTRIBUTES).attributes)


def test_workflow_node_attributes_round_trip(user):
    workflow = CondorWorkflow(name="wf", user=user, label="test_app", workspace="/tmp/wf")
    workflow.save()
    node = CondorWorkflowJobNode(name="prepare inputs", workflow=workflow,
                                 condorpy_template_name="vanilla_transfer_files",
                                 remote_input_files=["prep.py"],
                                 attributes=copy.deepcopy(ATTRIBUTES))
    node.save()
    for key, value in SET_LATER:
        node.set_attribute(key, copy.deepcopy(value))
    node.save()
    expected = reference_job("prepare inputs", "vanilla_transfer_files", ATTRIBUTES, SET_LATER)
    stored = as_stored(node)
    assert dict(stored._attributes) == dict(expected.attributes)
    assert stored._attributes["job_name"] == "prepare_inputs"
    assert stored.get_attribute("transfer_input_files").split(", ") == ["a.txt", "b.txt",
                                                                          "c d.txt"]
    assert stored.get_attribute("arguments").split() == ["x", "'y", "z'"]
    assert stored.get_attribute("initialdir") == expected.get("initialdir") == "prepare_inputs"
    # Saving again changes nothing: normalised strings are a fixed point.
    before = dict(stored._attributes)
    stored.save()
    assert dict(as_stored(stored)._attributes) == before


def test_get_condorpy_template_of_none_is_the_base_template():
    assert CondorPyJob.get_condorpy_template(None) == condorpy.Templates.base
    assert CondorPyJob.get_condorpy_template("no such template") == condorpy.Templates.base
    assert CondorPyJob.get_condorpy_template("vanilla_nfs") == condorpy.Templates.vanilla_nfs
