"""Every model saves, loads (as its own class) and lists, without engine calls."""

import pytest

from tethys_compute.models import (
    CondorJob,
    CondorScheduler,
    CondorWorkflow,
    CondorWorkflowJobNode,
    CondorWorkflowNode,
    DaskJob,
    DaskScheduler,
    TethysJob,
)

pytestmark = pytest.mark.django_db


def test_condor_job_round_trip(user):
    scheduler = CondorScheduler.objects.create(name="pool", host="submit", username="u", port=2222)
    job = CondorJob(name="sim", user=user, label="test_app", scheduler=scheduler,
                    attributes={"executable": "run.sh", "arguments": "1 2"}, num_jobs=3,
                    remote_input_files=["a.txt"])
    job.save()
    loaded = TethysJob.objects.get_subclass(pk=job.pk)
    assert type(loaded) is CondorJob
    # condorpy adds job_name on save (Tethys)
    assert loaded.attributes == {"executable": "run.sh", "arguments": "1 2", "job_name": "sim"}
    assert loaded.num_jobs == 3 and loaded.remote_input_files == ["a.txt"]
    assert loaded.scheduler == scheduler and loaded.cluster_id == 0
    assert loaded.get_attribute("executable") == "run.sh"
    loaded.set_attribute("request_memory", "2GB")
    loaded.save()
    assert CondorJob.objects.get(pk=job.pk).attributes["request_memory"] == "2GB"


def test_condor_job_refuses_positional_args_with_attributes(user):
    with pytest.raises(ValueError):
        CondorJob(None, attributes={"executable": "x"})


@pytest.mark.parametrize("bad", [0, -2])
def test_num_jobs_must_be_positive(user, bad):
    job = CondorJob(name="sim", user=user, label="test_app")
    with pytest.raises(ValueError, match="num_jobs"):
        job.num_jobs = bad


def test_condor_template_merged_with_attributes(user):
    job = CondorJob(name="sim", user=user, label="test_app", condorpy_template_name="vanilla_base",
                    attributes={"executable": "run.sh"})
    assert job.attributes["universe"] == "vanilla"
    assert job.attributes["executable"] == "run.sh"


def test_workflow_with_nodes_round_trip(user):
    workflow = CondorWorkflow(name="wf_{id}", user=user, label="test_app")
    workflow.add_max_jobs_throttle("heavy", 2)
    workflow.save()
    assert workflow.name == f"wf_{workflow.pk}"
    a = CondorWorkflowJobNode(name="A", workflow=workflow, attributes={"executable": "a.sh"})
    a.save()
    b = CondorWorkflowJobNode(name="B", workflow=workflow, category="heavy", retry=2,
                              retry_unless_exit_value=3, variables={"x": "1"})
    b.save()
    b.add_parent(a)
    loaded = TethysJob.objects.get_subclass(pk=workflow.pk)
    assert type(loaded) is CondorWorkflow
    assert loaded.max_jobs == {"heavy": 2}
    nodes = {n.name: n for n in loaded.nodes}
    assert set(nodes) == {"A", "B"}
    assert type(nodes["B"]) is CondorWorkflowJobNode and nodes["B"].type == "JOB"
    assert list(nodes["B"].parents) == [a]
    assert list(nodes["A"].children_nodes.all()) == [CondorWorkflowNode.objects.get(pk=b.pk)]
    assert nodes["B"].retry_unless_exit_value == 3 and nodes["B"].workspace == "."
    assert loaded.get_job("B") == b and loaded.get_job("Z") is None


def test_unsaved_workflow_has_no_nodes(user):
    assert CondorWorkflow(name="wf", user=user).nodes == []


def test_dask_job_round_trip(user):
    scheduler = DaskScheduler.objects.create(name="cluster", host="tcp://127.0.0.1:8786", timeout=5)
    job = DaskJob(name="fit", user=user, label="test_app", scheduler=scheduler, key="fit-123",
                  result={"mean": 1.5, "samples": [1, 2]})
    job.save()
    loaded = TethysJob.objects.get_subclass(pk=job.pk)
    assert type(loaded) is DaskJob
    assert loaded.result == {"mean": 1.5, "samples": [1, 2]}
    assert loaded.scheduler.timeout == 5 and loaded.forget is False


def test_deleting_a_scheduler_keeps_its_jobs(user):
    scheduler = DaskScheduler.objects.create(name="cluster", host="tcp://h:1")
    job = DaskJob.objects.create(name="fit", user=user, label="test_app", scheduler=scheduler)
    scheduler.delete()
    assert DaskJob.objects.get(pk=job.pk).scheduler is None


def test_list_mixed_types_in_one_query(user, django_assert_num_queries):
    CondorJob.objects.create(name="c", user=user, label="test_app")
    CondorWorkflow.objects.create(name="w", user=user, label="test_app")
    DaskJob.objects.create(name="d", user=user, label="test_app")
    with django_assert_num_queries(1):
        names = [type(j).__name__ for j in TethysJob.objects.order_by("id").select_subclasses()]
    assert names == ["CondorJob", "CondorWorkflow", "DaskJob"]
