"""The HTML of a jobs table's rows, written in Python: the live poll and the ``rows``
endpoint render up to a page of rows per request, and Django's template engine spent
most of a 25-row poll resolving the ~60 variables of each row (issue 17). This module
writes exactly what the template ``tethys_compute/jobs_table/rows.html`` (kept for the
first page, included by ``table.html``) gives for the same rows: values escaped with
:func:`~django.utils.html.conditional_escape` after Django's localization, the same
markup and line breaks. ``tests/jobs_table/test_row_html.py`` compares the two."""

from __future__ import annotations

from django.conf import settings
from django.template.defaultfilters import truncatechars
from django.utils.formats import localize
from django.utils.html import conditional_escape, json_script
from django.utils.safestring import SafeString, mark_safe


def _v(value) -> str:
    """A value as ``{{ value }}`` renders it (localized, then escaped)."""
    if isinstance(value, str):
        return conditional_escape(value)
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return conditional_escape(localize(value))


def _cell(c: dict) -> str:
    title = f' title="{_v(c["title"])}"' if c.get("title") else ""
    if c.get("iso"):
        inner = f'<time class="tc-time" datetime="{_v(c["iso"])}">{_v(c["text"])}</time>'
    elif c.get("elapsed") is not None:
        inner = (f'<span class="tc-elapsed" data-elapsed="{_v(c["elapsed"])}">'
                 f'{_v(c["text"])}</span>')
    else:
        inner = _v(c.get("text", ""))
    return f'<td class="{_v(c.get("css", ""))}-field"{title}>{inner}</td>'


def _status(row: dict) -> str:
    rid, message = _v(row["id"]), row["message"]
    out = [f'<td class="job-status status-col" id="jobs-table-status-{rid}">\n'
           f'<div class="tc-status status-{_v(row["css"])}"><span class="tc-status-dot '
           f'status-indicator" aria-hidden="true"></span><span class="tc-status-text">'
           f'{_v(row["status"])}</span>']
    if message:
        out.append(f'<span class="tc-status-info" tabindex="0" role="img" title="{_v(message)}"'
                   f' aria-label="{_v(message)}">i</span>')
    if row["task_state"]:
        out.append(' <span class="badge rounded-pill text-bg-light border tc-task-state" '
                   f'title="Dask task state">{_v(row["task_state"])}</span>')
    out.append("</div>\n")
    segments = row["segments"]
    if segments:
        label = ", ".join(f'{_v(s["label"])}: {_v(s["count"])}' for s in segments)
        bars = "".join(
            f'<div class="progress-bar tc-seg-{_v(s["key"])} {_v(s["css"])} tc-w-{_v(s["width"])}"'
            f' title="{_v(s["label"])}: {_v(s["count"])}">{_v(s["count"])}</div>'
            for s in segments)
        out.append(f'<div class="progress tc-progress" role="img" aria-label="{label}">'
                   f'{bars}</div>\n')
    elif row["progress"] is not None:
        progress = _v(row["progress"])
        out.append(f'<div class="progress tc-progress" role="progressbar" aria-label="Progress" '
                   f'aria-valuenow="{progress}" aria-valuemin="0" aria-valuemax="100">'
                   f'<div class="progress-bar tc-w-{_v(row["progress_width"])}">{progress}%</div>'
                   '</div>')
        if row["progress_message"]:
            out.append('<div class="small text-body-secondary tc-progress-message">'
                       f'{_v(row["progress_message"])}</div>')
        out.append("\n")
    if row["wait"]:
        out.append(f'<div class="small text-body-secondary tc-wait">{_v(row["wait"])}</div>')
    if row["is_error"] and message:
        out.append('<div class="small text-danger tc-status-message">'
                   f'{conditional_escape(truncatechars(message, 200))}</div>')
    out.append("\n</td>")
    return "".join(out)


def _row(row: dict, t: dict) -> str:
    rid, name = _v(row["id"]), _v(row["name"])
    acts = f' data-acts="{_v(row["acts"])}"' if row["acts"] else ""
    out = [f'<tr class="job-row" id="jobs-table-row-{rid}" data-job-id="{rid}" '
           f'data-fp="{_v(row["fp"])}" data-active="{"true" if row["active"] else "false"}" '
           f'data-status="{_v(row["code"])}" data-job-name="{name}"{acts}>\n',
           "".join(_cell(c) for c in row["cells"]), "\n"]
    if t["show_status"]:
        out.append(_status(row))
    out.append("\n")
    if t["show_actions"]:
        hrefs = "".join(f' data-href-{_v(key)}="{_v(href)}"' for key, href in row["hrefs"])
        out.append(f'<td class="actions-col"><details class="dropdown tc-actions" '
                   f'data-enabled="{_v(row["enabled"])}"{hrefs}><summary class="btn btn-sm '
                   f'btn-outline-secondary dropdown-toggle" aria-label="Actions for {name}">'
                   'Actions</summary></details></td>')
    out.append("\n</tr>")
    if row["graph"]:
        out.append(f'\n<tr class="workflow-nodes-row" id="workflow-nodes-row-{rid}" '
                   f'data-detail-for="{rid}"><td colspan="{_v(t["num_cols"])}"><div '
                   f'class="tc-graph" aria-label="Workflow of {name}"></div>'
                   f'{json_script(row["graph"])}</td></tr>')
    out.append("\n")
    return "".join(out)


def render_rows(rows: list[dict], t: dict) -> SafeString:
    """The ``<tr>`` elements of ``rows`` (as :meth:`RowBuilder.row` builds them; detail
    rows of workflows included) for a table whose context is ``t`` (``show_status``,
    ``show_actions``, ``num_cols``): the same text as ``rows.html``, marked safe as
    ``render_to_string`` marks it (every value in it is escaped)."""
    if not rows:
        return mark_safe(f'<tr class="tc-no-jobs"><td colspan="{_v(t["num_cols"])}" '
                         'class="text-center text-body-secondary">No Jobs</td></tr>\n')
    return mark_safe("".join([_row(row, t) for row in rows]) + "\n")
