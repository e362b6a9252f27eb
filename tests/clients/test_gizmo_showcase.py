"""The Gizmo Showcase family: its jobs-table page (tests/clients/showcase_app, shaped like
the app's controller: a lambda ``enabled_callback`` built inside the controller, custom
actions, ``show_detailed_status``, ``"|"`` separators, pause/resume, Tethys's demo jobs)
served by a real server process, and its live updates and custom actions served by a
SECOND server process, on the same database, that never rendered the page (as with
several workers behind a load balancer).

Hazards: F14 (its constructor kwargs), F16 (custom actions are process-local in Tethys:
the second process there fails the action and shows it enabled on every row), F17 (the
showcase's demo rows: bars and graph for jobs without parts).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest

URLCONF = "tests.clients.showcase_app.urls"
PAGE = "/apps/gizmo-showcase/jobs-table/"
EVEN = ["job_0", "job_2", "job_4", "job_10", "job_12", "job_14", "job_20", "job_22"]


class Browser:
    """A cookie-keeping HTTP client (the session and CSRF cookies of one visitor), which
    may send each request to any of the servers (they share the database)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def get(self, server, path):
        with self.opener.open(server.base_url + path, timeout=60) as response:
            return response.status, response.read().decode()

    def post(self, server, path, *, form=None, json_body=None):
        headers = {"X-CSRFToken": self.cookie("csrftoken") or "",
                   "Referer": server.base_url + PAGE}
        if json_body is not None:
            body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        else:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(server.base_url + path, data=body, headers=headers,
                                         method="POST")
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class TablePage(HTMLParser):
    """What the rendered table carries: its token, endpoints, menu and rows."""

    def __init__(self, html):
        super().__init__()
        self.wrapper, self.rows, self.menu = {}, {}, {}
        self.graphs = re.findall(r'<tr class="workflow-nodes-row" id="workflow-nodes-row-(\d+)"',
                                 html)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-tc-jobs-table" in attrs:
            self.wrapper = attrs
        elif tag == "tr" and "job-row" in (attrs.get("class") or "").split():
            self.rows[attrs["data-job-name"]] = attrs
            self._row = attrs
        elif tag == "details" and "tc-actions" in (attrs.get("class") or ""):
            self._row["enabled"] = (attrs.get("data-enabled") or "").split()
        elif tag == "button" and "data-tc-action" in attrs:
            self.menu[attrs["data-label"]] = attrs["data-tc-action"]


def enabled(row_html_or_attrs, key):
    if isinstance(row_html_or_attrs, dict):
        return key in row_html_or_attrs["enabled"]
    found = re.search(r'data-enabled="([^"]*)"', row_html_or_attrs)
    return key in found.group(1).split()


@pytest.fixture
def servers(live_project):
    project = live_project()
    project.env["TESTAPP_ROOT_URLCONF"] = URLCONF
    first = project.start_server("first")
    second = project.start_server("second")
    return project, first, second


def test_showcase_page_and_a_second_process_that_never_rendered_it(servers):
    project, first, second = servers
    visitor = Browser()
    assert visitor.get(first, "/login-for-tests/")[0] == 200
    status, html = visitor.get(first, "/apps/gizmo-showcase/jobs-table/sample-jobs/")
    assert status == 200  # redirected to the page, which renders (it failed before F16)
    page = TablePage(html)
    names = sorted(page.rows, key=lambda n: int(n.split("_")[1]))
    assert len(names) == 15
    custom, report, note = (page.menu[label] for label in
                            ("Custom Action", "File Report", "Quick Note"))
    assert {"Run", "Pause", "Resume", "Resubmit", "View Logs", "Terminate", "Delete"} <= set(
        page.menu)

    # --- the page, in the process that built the table: exactly as Tethys ----------------
    for name in names:
        assert enabled(page.rows[name], custom) == (name in EVEN), name
        status_code = page.rows[name]["data-status"]
        assert enabled(page.rows[name], report) == (status_code == "COM"), name
        assert enabled(page.rows[name], note)
    ids = {name: page.rows[name]["data-job-id"] for name in names}
    # F17: the demo rows show Tethys's bars, and the workflow its demo graph.
    assert page.graphs == [ids["job_22"]]
    for name in ("job_20", "job_21", "job_22"):
        row_html = html.split(f'data-job-name="{name}"', 1)[1].split("</tr>", 1)[0]
        assert "tc-seg-complete" in row_html and "tc-seg-error" in row_html, name

    config, poll_url = page.wrapper["data-config"], page.wrapper["data-poll-url"]
    action_url = page.wrapper["data-action-url"]
    active = [n for n in names if page.rows[n]["data-active"] == "true"]
    acts = {ids[n]: page.rows[n]["data-acts"] for n in names}

    # --- a live update served by the second process --------------------------------------
    code, answer = visitor.post(second, poll_url, json_body={
        "config": config, "rows": {ids[n]: "" for n in active},
        "acts": {ids[n]: acts[ids[n]] for n in active}})
    assert code == 200, answer
    assert sorted(answer["rows"]) == sorted(ids[n] for n in active)
    for name in active:
        assert enabled(answer["rows"][ids[name]]["html"], custom) == (name in EVEN), name
    assert 'class="workflow-nodes-row"' in answer["rows"][ids["job_22"]]["html"]

    # --- custom actions served by the second process ----------------------------------------
    target = "job_2"  # even, Running
    code, done = visitor.post(second, action_url, form={
        "config": config, "job_id": ids[target], "action": custom, "acts": acts[ids[target]]})
    assert code == 200 and done["success"] is True, done
    assert done["status"] == "My Custom Status"
    shown = project.ops("show", ids=[int(ids[target])])[ids[target]]
    assert shown["status"] == "OTH"
    code, refused = visitor.post(second, action_url, form={
        "config": config, "job_id": ids["job_1"], "action": custom, "acts": acts[ids["job_1"]]})
    assert code == 409, refused  # odd parity: not offered, and refused on the server too

    # The registered bound method runs in the second process.
    code, filed = visitor.post(second, action_url, form={
        "config": config, "job_id": ids["job_5"], "action": report, "acts": acts[ids["job_5"]]})
    assert code == 200, filed
    assert filed["message"] == (
        f"Report RPT-{ids['job_5']} filed by process {second.process.pid}.")

    # A lambda callback exists only where the table was built: run there, refused clearly
    # (not "Unable to custom_action job N") elsewhere, with one warning in that log.
    code, noted = visitor.post(first, action_url, form={
        "config": config, "job_id": ids["job_5"], "action": note})
    assert code == 200 and noted["message"] == "noted job_5"
    for _ in range(2):
        code, failed = visitor.post(second, action_url, form={
            "config": config, "job_id": ids["job_5"], "action": note})
        assert code == 500
        assert "this server process cannot run this action" in failed["error"]
    log = project.output(second.process)[1]
    assert log.count('the callback of custom action "Quick Note"') == 1
    assert log.count('the enabled_callback of custom action "Custom Action"') == 1
    assert "Traceback" not in log
    assert "Traceback" not in project.output(first.process)[1]


@pytest.fixture
def chromium():
    """Debian's Chromium, headless, driven by Playwright (as tests/jobs_table)."""
    from playwright.sync_api import sync_playwright

    from tests.jobs_table.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
def test_in_a_browser_polls_and_actions_answered_by_the_second_process(servers, chromium):
    """The page comes from the first process; every live update and action the page's
    script sends is answered by the second (a load balancer's choice), which never
    rendered it. The menus stay right and the custom action runs."""
    from playwright.sync_api import expect

    project, first, second = servers
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    errors, forwarded = [], []
    page = context.new_page()
    page.set_default_timeout(30000)
    page.on("pageerror", lambda error: errors.append(error))

    def to_second(route):
        """Send the request to the second process as a load balancer would: same public
        origin (here: the second's own, which its CSRF check compares with)."""
        url = route.request.url.replace(first.base_url, second.base_url, 1)
        headers = {**route.request.headers, "origin": second.base_url,
                   "referer": second.base_url + PAGE}
        response = route.fetch(url=url, headers=headers)
        forwarded.append((route.request.url.rsplit("/", 2)[-2], route.request.post_data,
                          response.status))
        route.fulfill(response=response)

    page.goto(first.base_url + "/login-for-tests/")
    page.goto(first.base_url + "/apps/gizmo-showcase/jobs-table/sample-jobs/")
    wrapper = page.locator("[data-tc-jobs-table]")
    for endpoint in ("data-poll-url", "data-action-url"):
        page.route(first.base_url + wrapper.get_attribute(endpoint), to_second)

    def row(name):
        return page.locator(f'tr.job-row[data-job-name="{name}"]')

    # Make the next live update re-render every unfinished row in the second process.
    page.evaluate("""() => document.querySelectorAll('tr.job-row[data-active="true"]')
                     .forEach(tr => { tr.dataset.fp = 'stale'; })""")
    # The next poll (every 10 s here, as the showcase sets) re-renders them there.
    expect(row("job_12")).not_to_have_attribute("data-fp", "stale", timeout=60000)
    for name in ("job_1", "job_2", "job_11", "job_12", "job_20", "job_22"):
        row(name).locator("summary").click()
        entry = row(name).get_by_role("button", name="Custom Action", exact=True)
        if name in EVEN:
            expect(entry).to_be_enabled()
        else:
            expect(entry).to_be_disabled()
        row(name).locator("summary").click()
    assert row("job_22").locator("xpath=following-sibling::tr[1]").get_attribute(
        "class") == "workflow-nodes-row"

    row("job_12").locator("summary").click()
    row("job_12").get_by_role("button", name="Custom Action", exact=True).click()
    page.locator("dialog.tc-confirm-dialog").get_by_role("button", name="Custom Action").click()
    expect(row("job_12").locator(".tc-status-text")).to_have_text("My Custom Status")
    kinds = [kind for kind, _, _ in forwarded]
    assert "poll" in kinds and "action" in kinds, forwarded
    assert all(status == 200 for _, _, status in forwarded), forwarded
    acted = [body for kind, body, _ in forwarded if kind == "action"]
    assert "acts=" in acted[-1] and "acts=&" not in acted[-1] + "&"
    # A poll forwarded while the page closes would be fulfilled on a disposed request.
    page.unroute_all(behavior="ignoreErrors")
    context.close()
    assert not errors, errors
