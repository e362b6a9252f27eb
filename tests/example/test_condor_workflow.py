"""The example app's HTCondor workflow on the HTCondor stand-in (a local pool): offered only
when a scheduler is assigned, runs its bootstrap nodes then the combine node, and the
combined interval matches the same resamples computed here."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.datasets import nile

from tests.htcondor_standin.scenarios import fast, wait_status
from tethys_compute.models import CondorScheduler, CondorWorkflow, SchedulerSetting

pytestmark = [pytest.mark.urls("example.urls"), pytest.mark.django_db]


@pytest.fixture
def local_pool(settings, standin):
    from example.nile_flow.app import NileFlow

    fast(settings)
    NileFlow.sync_scheduler_settings()
    scheduler = CondorScheduler.objects.create(name="local pool", host="localhost")
    SchedulerSetting.objects.filter(app_package="nile_flow", name="condor_primary").update(
        scheduler_service=scheduler)
    return scheduler


def test_without_a_pool_the_page_says_how_to_assign_one(client, user):
    client.force_login(user)
    body = client.get("/").content.decode()
    assert "tethys_compute_schedulers link &lt;name&gt; nile_flow:condor_primary" in body
    assert "Run workflow on HTCondor" not in body
    response = client.post("/run/workflow/", {"distribution": "gumbel_r"}, follow=True)
    assert "No HTCondor scheduler is assigned" in response.content.decode()


def test_workflow_runs_on_the_pool_and_combines_its_nodes(client, user, local_pool):
    client.force_login(user)
    assert "Run workflow on HTCondor" in client.get("/").content.decode()
    client.post("/run/workflow/", {"distribution": "gumbel_r", "chunks": "3", "n_boot_each": "20"})
    workflow = CondorWorkflow.objects.get(user=user)
    assert (workflow.max_attempts, workflow.retry_delay) == (3, 30)  # it heals itself
    assert sorted(node.name for node in workflow.nodes) == ["boot_0", "boot_1", "boot_2", "combine"]
    wait_status(workflow, "Complete", timeout=120)
    workflow.refresh_from_db()
    result = workflow.extended_properties["result"]
    assert result["nodes"] == 3 and result["n_boot"] == 60
    data = nile.load().data["volume"].to_numpy(dtype=float)
    boot = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for _ in range(20):
            params = stats.gumbel_r.fit(rng.choice(data, size=data.size, replace=True))
            boot.append(stats.gumbel_r.ppf(0.99, *params))
    assert result["ci95"]["100"] == pytest.approx(np.percentile(boot, [2.5, 97.5]).tolist())
    assert result["return_levels"]["100"] == pytest.approx(
        stats.gumbel_r.ppf(0.99, *stats.gumbel_r.fit(data)))
    page = client.get(f"/jobs/{workflow.pk}/result/").content.decode()
    assert "100 years" in page
    on_disk = json.loads((Path(workflow.workspace) / "result.json").read_text())
    assert on_disk == result
