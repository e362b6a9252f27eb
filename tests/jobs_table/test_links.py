"""Links of monitor_url, results_url and custom URL/modal actions."""

import pytest
from django.urls import NoReverseMatch

from tethys_compute.jobs_table.links import check_link, is_url_spec, job_url

pytestmark = pytest.mark.urls("tests.jobs_table.urls")


def test_url_names_are_reversed_with_the_job_id():
    assert job_url("job_monitor", 42) == "/monitor/42/"


def test_paths_take_the_id_in_a_placeholder_or_as_last_segment():
    assert job_url("/apps/x/jobs/{job_id}/log/", 7) == "/apps/x/jobs/7/log/"
    assert job_url("/apps/x/jobs/", 7) == "/apps/x/jobs/7/"
    assert job_url("/apps/x/jobs", 7) == "/apps/x/jobs/7/"
    assert job_url("/apps/x/jobs/?tab=1", 7) == "/apps/x/jobs/7/?tab=1"
    assert job_url("https://example.org/j/{job_id}", 7) == "https://example.org/j/7"


def test_tethys_rule_for_what_is_a_link():
    assert is_url_spec("app:page") and is_url_spec("/path/")
    assert not is_url_spec("execute") and not is_url_spec(None)


def test_bad_links_are_refused_at_construction():
    with pytest.raises(ValueError, match="absolute path"):
        check_link("relative/path/", "monitor_url")
    with pytest.raises(ValueError, match="absolute path"):
        check_link("javascript:alert(1)//", "monitor_url")
    with pytest.raises(ValueError, match="job_id"):
        check_link("no_such_route", "results_url")
    with pytest.raises(ValueError, match="URL name or a path"):
        check_link("", "results_url")
    with pytest.raises(NoReverseMatch):
        job_url("no_such_route", 1)
