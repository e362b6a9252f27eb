"""The example app's results pages as a scientist reads them: the fitted return-level
curve with its bootstrap confidence band over the observed floods, the Nile series with
its change point (SVG drawn on the server, safe under a strict Content Security Policy),
numbers rounded for people, and the distributions comparison as a small JSON endpoint
the home page polls."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats

from tethys_compute.models import BasicJob, DaskJob

pytestmark = [pytest.mark.urls("example.urls"), pytest.mark.django_db]

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def analysis():
    from example.nile_flow import analysis

    return analysis


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def finished_fit(user, analysis, distribution="gumbel_r", tail="high", n_boot=60, seed=1,
                 result=None):
    """A frequency job of the app as it is once its Dask task has finished: its result is
    the analysis function's own output."""
    result = result or analysis.fit_and_bootstrap(distribution, n_boot=n_boot, seed=seed,
                                                  tail=tail)
    return DaskJob.objects.create(
        name=f"Flood frequency ({distribution})", user=user, label="nile_flow",
        _status="COM", completion_time=timezone.now(), result=result,
        extended_properties={"analysis": "frequency", "distribution": distribution,
                             "n_boot": n_boot, "seed": seed, "tail": tail,
                             "return_periods": [10, 50, 100]})


def the_svg(page):
    """The page's one inline SVG, parsed (it must be well-formed XML)."""
    (svg,) = re.findall(r"<svg\b.*?</svg>", page, re.S)
    return svg, ET.fromstring(svg)


def by_id(root, gid):
    (found,) = [el for el in root.iter() if el.get("id") == gid]
    return found


def csp_safe(markup):
    assert not re.search(r"\sstyle\s*=", markup)
    assert not re.search(r"<style[\s>]", markup, re.I)
    assert "<script" not in markup.lower()
    assert not re.search(r"\son[a-z]+\s*=", markup, re.I)


def visible_text(page):
    """The page's text outside the chart and the raw-result block."""
    page = re.sub(r"<svg\b.*?</svg>", "", page, flags=re.S)
    page = re.sub(r"<details\b.*?</details>", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_the_fit_carries_its_return_level_curve_and_bootstrap_band(analysis):
    result = analysis.fit_and_bootstrap("gumbel_r", n_boot=80, seed=3)
    curve = result["curve"]
    periods = curve["periods"]
    assert periods == sorted(periods) and periods[0] < 1.1 and periods[-1] >= 200
    assert {10, 50, 100} <= set(periods)
    assert len(curve["level"]) == len(curve["low"]) == len(curve["high"]) == len(periods)
    # The curve and band at the tabulated periods are the tabulated levels and intervals.
    for period in (10, 50, 100):
        i = periods.index(period)
        assert curve["level"][i] == pytest.approx(result["return_levels"][str(period)])
        assert [curve["low"][i], curve["high"][i]] == pytest.approx(result["ci95"][str(period)])
    # The fitted curve is the distribution's quantile function, independently computed.
    data = analysis.load_nile()[1]
    params = stats.gumbel_r.fit(data)
    expected = stats.gumbel_r.ppf(1 - 1 / np.array(periods), *params)
    assert curve["level"] == pytest.approx(list(expected))
    assert all(low <= high for low, high in zip(curve["low"], curve["high"], strict=True))


def test_frequency_result_page_draws_curve_band_and_observed_floods(logged_in, user, analysis):
    job = finished_fit(user, analysis)
    page = logged_in.get(f"/jobs/{job.pk}/result/").content.decode()
    svg, root = the_svg(page)
    csp_safe(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title") is not None
    # The band (a filled polygon), the fitted curve (a line) and 100 observed years.
    (band,) = by_id(root, "nf-band").iter(f"{SVG}use")
    assert band.get("fill") == "#9ecae1"  # a presentation attribute, not a style
    (line,) = by_id(root, "nf-fitted-curve").iter(f"{SVG}path")
    assert line.get("stroke") == "#08519c" and line.get("fill") == "none"
    assert len(line.get("d").split("L")) >= 40  # the whole curve, not the tabulated points
    assert len(list(by_id(root, "nf-observed").iter(f"{SVG}use"))) == 100
    assert "Return period" in svg and "years" in svg


def test_drought_and_older_results_are_drawn_too(logged_in, user, analysis):
    drought = finished_fit(user, analysis, distribution="lognorm", tail="low")
    page = logged_in.get(f"/jobs/{drought.pk}/result/").content.decode()
    _, root = the_svg(page)
    assert len(list(by_id(root, "nf-observed").iter(f"{SVG}use"))) == 100
    # A result stored before the curve was part of it: the fitted curve is drawn from the
    # parameters and the band only where it was computed (the tabulated periods).
    older = analysis.fit_and_bootstrap("norm", n_boot=50, seed=0)
    del older["curve"]
    job = finished_fit(user, analysis, distribution="norm", result=older)
    page = logged_in.get(f"/jobs/{job.pk}/result/").content.decode()
    svg, root = the_svg(page)
    csp_safe(svg)
    assert list(by_id(root, "nf-fitted-curve").iter(f"{SVG}path"))
    assert list(by_id(root, "nf-return-levels").iter())
    # The HTCondor workflow's combined result: levels and intervals only (no parameters,
    # AIC or curve): the curve is fitted to the series, the page leaves out what it lacks.
    combined = {key: older[key] for key in ("distribution", "tail", "return_levels", "ci95",
                                            "n", "n_boot")}
    job = finished_fit(user, analysis, distribution="norm", result={**combined, "nodes": 3})
    page = logged_in.get(f"/jobs/{job.pk}/result/").content.decode()
    svg, root = the_svg(page)
    csp_safe(svg)
    assert list(by_id(root, "nf-fitted-curve").iter(f"{SVG}path"))
    assert "AIC" not in visible_text(page) and "parameters" not in visible_text(page)


def test_change_point_page_draws_the_series_and_the_shift(logged_in, user, analysis):
    result = analysis.change_point()
    job = BasicJob.objects.create(
        name="Change point", user=user, label="nile_flow", _status="COM",
        completion_time=timezone.now(),
        extended_properties={"analysis": "change_point", "result": result})
    page = logged_in.get(f"/jobs/{job.pk}/result/").content.decode()
    svg, root = the_svg(page)
    csp_safe(svg)
    assert len(list(by_id(root, "nf-series").iter(f"{SVG}use"))) == 100
    assert list(by_id(root, "nf-change-point").iter(f"{SVG}path"))
    assert list(by_id(root, "nf-means").iter(f"{SVG}path"))
    text = " ".join(visible_text(page).split())
    assert "1899" in text
    assert "from 1,098 to 850" in text  # the means, whole 10^8 m^3


def test_numbers_are_rounded_for_people(logged_in, user, analysis):
    job = finished_fit(user, analysis, distribution="gamma")
    page = logged_in.get(f"/jobs/{job.pk}/result/").content.decode()
    text = " ".join(visible_text(page).split())
    # No number with more than three decimals, no run time as h:mm:ss.ffffff.
    assert not re.search(r"\d\.\d{4,}", text), re.findall(r"\S*\d\.\d{4,}\S*", text)
    # The parameters by name, to three significant figures.
    a, loc, scale = job.result["params"]
    assert f"a = {float(f'{a:.3g}'):g}" in text
    assert f"scale = {float(f'{scale:.3g}'):,g}" in text
    level = job.result["return_levels"]["100"]
    assert f"{level:,.0f}" in text


def test_comparison_endpoint_answers_only_when_it_changed(logged_in, user, other_user,
                                                         analysis):
    first = finished_fit(user, analysis, distribution="norm", n_boot=50)
    finished_fit(other_user, analysis, distribution="gumbel_r", n_boot=50)  # not shown
    answer = logged_in.get("/comparison/").json()
    assert answer["changed"] is True
    assert f'href="/jobs/{first.pk}/result/"' in answer["html"]
    assert ">gumbel_r<" not in answer["html"]
    again = logged_in.get("/comparison/", {"digest": answer["digest"]}).json()
    assert again == {"changed": False, "digest": answer["digest"]}
    # A job finishing shows up; a deleted one goes.
    second = finished_fit(user, analysis, distribution="gumbel_r", n_boot=50)
    now = logged_in.get("/comparison/", {"digest": answer["digest"]}).json()
    assert now["changed"] is True and f'/jobs/{second.pk}/result/' in now["html"]
    DaskJob.objects.get(pk=first.pk).delete()
    later = logged_in.get("/comparison/", {"digest": now["digest"]}).json()
    assert later["changed"] is True and f'/jobs/{first.pk}/result/' not in later["html"]
    # Running or unprocessed jobs are not in it.
    DaskJob.objects.create(name="running", user=user, label="nile_flow", _status="RUN")
    assert logged_in.get("/comparison/", {"digest": later["digest"]}).json()["changed"] is False


def test_comparison_endpoint_needs_a_login(client):
    response = client.get("/comparison/")
    assert response.status_code in (302, 403)


def test_home_page_polls_the_comparison_with_the_table(logged_in, user, analysis):
    finished_fit(user, analysis, distribution="norm", n_boot=50)
    page = logged_in.get("/").content.decode()
    box = re.search(r'<div[^>]*data-nf-live[^>]*>', page).group(0)
    assert 'data-url="/comparison/"' in box and 'data-interval="2000"' in box
    assert re.search(r'<script src="[^"]*nile_flow/nile_flow\.js"', page)
    csp_safe(re.sub(r'<script src="[^"]*"[^>]*></script>', "", page))


def test_an_unchanged_comparison_costs_the_same_queries_whatever_the_jobs(logged_in, user,
                                                                          analysis):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = analysis.fit_and_bootstrap("norm", n_boot=50)

    def queries_of_an_unchanged_poll():
        digest = logged_in.get("/comparison/").json()["digest"]
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get("/comparison/", {"digest": digest}).json()["changed"] is False
        return len(captured)

    finished_fit(user, analysis, distribution="norm", result=result)
    few = queries_of_an_unchanged_poll()
    for _ in range(30):
        finished_fit(user, analysis, distribution="norm", result=result)
    assert queries_of_an_unchanged_poll() == few
    # The session and user, then one aggregate: no result is read.
    assert few <= 3, few
