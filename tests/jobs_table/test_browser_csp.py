"""The jobs table under a strict Content Security Policy (no 'unsafe-inline'): Django 6's
``SECURE_CSP`` machinery where available (a plain header otherwise). The page, a refresh
that replaces rows, the actions menu and the logs dialog cause no CSP violation, and the
progress bars still have their widths (set by our stylesheet, not inline ``style=``)."""

import pytest
from playwright.sync_api import expect

from tethys_compute.models import BasicJob

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.jobs_table.urls"),
              pytest.mark.django_db(transaction=True)]

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " +
                           (e.sample || ""));
});
"""


def width_ratio(bar):
    return bar.evaluate(
        "el => el.getBoundingClientRect().width / el.parentElement.getBoundingClientRect().width")


def test_table_under_strict_csp_has_no_violation_and_sized_bars(open_page, user, make_job,
                                                                 make_workflow):
    workflow = make_workflow("flow", [
        ("prep", "Completed", []),
        ("a", "Completed", ["prep"]),
        ("b", "Running", ["prep"]),
        ("join", None, ["a", "b"]),
    ])
    running = make_job("model run", status="RUN")
    BasicJob.objects.get(pk=running.pk).set_progress(60, "year 3 of 5")
    page = open_page(user, "/jobs-csp/?refresh=1000")
    page.context.add_init_script(WATCH)
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    response = page.reload()
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "style-src 'self'" in response.headers["content-security-policy"]

    bar = page.locator(f"#jobs-table-row-{running.pk} .progress-bar")
    expect(bar).to_have_text("60%")
    assert width_ratio(bar) == pytest.approx(0.60, abs=0.02)
    # The workflow's stacked bar: 2 of 4 nodes complete, 1 running, 1 not started.
    segments = page.locator(f"#jobs-table-row-{workflow.pk} .progress-bar")
    expect(segments).to_have_count(3)
    ratios = [width_ratio(segments.nth(i)) for i in range(3)]
    assert ratios == pytest.approx([0.5, 0.25, 0.25], abs=0.02)

    # A refresh replaces the row: the new bar is sized too, still without a violation.
    BasicJob.objects.get(pk=running.pk).set_progress(85, "year 5 of 5")
    expect(bar).to_have_text("85%", timeout=20000)
    assert width_ratio(bar) == pytest.approx(0.85, abs=0.02)

    page.locator(f"#jobs-table-row-{running.pk} summary").click()
    expect(page.locator(f"#jobs-table-row-{running.pk} .dropdown-menu")).to_be_visible()
    page.keyboard.press("Escape")

    violations = page.evaluate("() => window.__violations")
    assert violations == [], violations
    assert not [text for text in console if "Content Security Policy" in text], console
