"""Rows of a jobs table: what each row shows (cells, status, progress, actions) and its
fingerprint, and the HTML of rows, for the first render and for live updates alike.

Rows are built from the database only: the status shown is the job's cached status and
nothing here contacts an engine (refreshing is ``refresh``'s job, bounded). Related
objects the row needs are loaded for all rows at once, so rendering 1000 rows costs the
same number of queries as rendering 10.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from django.db.models import prefetch_related_objects
from django.template.loader import get_template
from django.utils.text import slugify

from . import graph
from .actions import BUILTIN_ACTIONS, SEPARATOR
from .columns import cell
from .custom import get_custom_action
from .links import job_url
from .row_html import render_rows
from .tokens import TableConfig, dump_enabled, load_enabled
from .waiting import mark_places, place, waiting_text

logger = logging.getLogger("tethys_compute.jobs_table")

ROW_TEMPLATE = "tethys_compute/jobs_table/rows.html"
#: The file of our own ``rows.html``: :func:`.row_html.render_rows` writes its text.
_OUR_ROW_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / ROW_TEMPLATE


@functools.lru_cache(maxsize=8)
def _is_our_row_template(origin: str) -> bool:
    return Path(origin).resolve() == _OUR_ROW_TEMPLATE


def codify(text: str) -> str:
    """Tethys's ``codify``: lower case with spaces as ``-`` (and nothing unsafe)."""
    return slugify(str(text).replace(" ", "-")) or "other"


def task_state(job) -> str | None:
    """The engine's task state kept for a job (Dask: ``processing``, ``memory``...): the
    job's ``cached_task_state`` attribute, else ``extended_properties["task_state"]``.
    Neither may contact the engine."""
    value = getattr(job, "cached_task_state", None)
    if value is None:
        value = (job.extended_properties or {}).get("task_state")
    return str(value) if value not in (None, "") else None


def is_active(job) -> bool:
    """Whether the table keeps polling this row: not terminal, or its results are still
    being processed."""
    return not job.is_terminal or job.post_processing_incomplete


def fingerprint(job, counts=None, drawn=None) -> str:
    """A short digest of everything a live update can change in a row."""
    nodes = tuple((n["id"], n["status"]) for n in drawn["nodes"]) if drawn else ()
    parts = (
        job._status,
        job.other_status,
        job.progress,
        job.progress_message,
        job.status_message,
        job.failure_kind,
        task_state(job),
        tuple(sorted((counts or {}).items())),
        nodes,
        bool(job.completion_time),
        place(job),
        job.__dict__.get("usage_peak_memory_mb"),
        job.__dict__.get("usage_wall_seconds"),
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


def status_tooltip(job) -> str:
    """The status's tooltip: ``status_message``, then a failed run's kind, run and engine
    reason (:func:`~tethys_compute.models.retries.failure_note`), one per line."""
    from ..models.retries import failure_note

    return "\n".join(t for t in (job.status_message or "", failure_note(job)) if t)


class RowBuilder:
    """Builds the rows of one table (as configured by its :class:`TableConfig`).

    :param carried: ``{job id: token}``, the signed enabled states the browser sent back
        with the rows (``data-acts``), used for custom actions whose
        ``enabled_callback`` this process cannot call (see :mod:`.custom`).
    """

    def __init__(self, config: TableConfig, carried=None):
        self.config = config
        self.carried = {}
        for key, token in dict(carried or {}).items():
            try:
                self.carried[int(key)] = str(token)
            except (TypeError, ValueError):
                continue
        self._known: dict[int, dict[str, bool]] = {}
        descriptions = config.custom_descriptions()
        self.menu: list[tuple[str, Any]] = []
        for entry in config.actions:
            if entry == SEPARATOR:
                self.menu.append(("sep", None))
            elif isinstance(entry, str) and entry in BUILTIN_ACTIONS:
                self.menu.append(("builtin", BUILTIN_ACTIONS[entry]))
            elif isinstance(entry, dict) and "custom" in entry:
                name = entry["custom"]
                try:
                    self.menu.append(("custom", get_custom_action(name, descriptions.get(name))))
                except (KeyError, ValueError):
                    logger.exception("Jobs table: custom action %s cannot be loaded", name)
        # The labels' classes, once per table (not per row and action).
        self._css = [codify(action.label) if kind != "sep" else "" for kind, action in self.menu]

    # --- loading -----------------------------------------------------------------------
    def prepare(self, jobs) -> None:
        """Load, for all ``jobs`` at once, the related objects their rows read."""
        from ..models import TethysJob

        related = []
        for column in self.config.columns:
            if column.path is None:
                try:
                    field = TethysJob._meta.get_field(column.field)
                except Exception:  # noqa: BLE001 - not a model field: nothing to load
                    continue
                if field.many_to_one or field.one_to_one:
                    related.append(field.name)
        if related and jobs:
            prefetch_related_objects(list(jobs), *related)
        graph.prefetch_nodes(jobs, parents=self.config.show_detailed_status)
        mark_places(jobs)

    # --- one row -------------------------------------------------------------------------
    def row(self, job) -> dict:
        status = job.cached_status
        counts = graph.status_counts(job)
        active = is_active(job)
        drawn = graph.workflow_graph(job) if self.config.show_detailed_status else None
        bar = []
        various = status in ("Various", "Various-Complete")
        if counts and (various or (graph.is_workflow(job) and active)):
            bar = graph.segments(counts)
        progress = job.progress if active and job.progress is not None else None
        return {
            "id": job.pk,
            "name": job.name,
            "job": job,
            "type": job.type,
            "cells": [cell(job, column) | {"css": column.css} for column in self.config.columns],
            "status": status,
            "code": job._status,
            "css": codify(status),
            "active": active,
            "message": status_tooltip(job),
            "wait": waiting_text(job),
            "is_error": job._status == "ERR",
            "progress": progress,
            "progress_message": job.progress_message if progress is not None else "",
            # The bar's width class (tc-w-0 ... tc-w-100): no inline style (strict CSP).
            "progress_width": None if progress is None else min(max(int(progress), 0), 100),
            "segments": bar,
            "task_state": task_state(job),
            **self._menu_state(job),
            "graph": drawn,
            "fp": fingerprint(job, counts, drawn),
            "acts": self._enabled_token(job),
        }

    def _enabled_token(self, job) -> str:
        """The signed enabled states of the row's custom actions whose
        ``enabled_callback`` some process may lack (``""`` when there are none)."""
        states = self._known.pop(job.pk, None)
        return dump_enabled(job, states) if states else ""

    def _menu_state(self, job) -> dict:
        """A row's side of the actions menu: the keys of the actions that apply now
        (``enabled``, space separated) and the links of enabled link and modal actions
        (``hrefs``: ``(key, url)`` pairs). The menu's markup is rendered once per table
        (:meth:`menu_items`) and completed from these by the script."""
        if not self.config.show_actions:
            return {"actions": [], "enabled": "", "hrefs": []}
        items = self.actions(job)
        enabled = [item for item in items if not item.get("sep") and item["enabled"]]
        return {
            "actions": items,
            "enabled": " ".join(item["key"] for item in enabled),
            "hrefs": [(item["key"], item.get("href") or item.get("modal")) for item in enabled
                      if item.get("href") or item.get("modal")],
        }

    def menu_items(self) -> list[dict]:
        """The table's menu entries (labels, kinds, confirmation texts), once per table."""
        items: list[dict[str, Any]] = []
        for kind, action in self.menu:
            if kind == "sep":
                items.append({"sep": True})
                continue
            if kind == "builtin":
                key, item_kind = action.key, ("post" if action.kind == "method" else action.kind)
            else:
                key, item_kind = action.name, ("post" if action.kind == "callback" else action.kind)
            items.append({
                "key": key,
                "label": action.label,
                "css": codify(action.label),
                "kind": item_kind,
                "confirm": action.confirmation_message,
                "overlay": action.show_overlay,
            })
        return items

    def actions(self, job) -> list[dict]:
        links = self.config.links
        items = []
        for (kind, action), css in zip(self.menu, self._css, strict=True):
            if kind == "sep":
                items.append({"sep": True})
                continue
            if kind == "builtin":
                enabled = action.is_enabled(job, links)
                item = {
                    "key": action.key,
                    "label": action.label,
                    "css": css,
                    "enabled": enabled,
                    "kind": "post" if action.kind == "method" else action.kind,
                    "confirm": action.confirmation_message,
                    "overlay": action.show_overlay,
                }
                if action.kind == "link" and enabled:
                    item["href"] = self._link(links[action.key], job)
                    item["enabled"] = item["href"] is not None
                items.append(item)
                continue
            enabled = self._custom_enabled(action, job)
            item = {
                "key": action.name,
                "label": action.label,
                "css": css,
                "enabled": enabled,
                "kind": "post" if action.kind == "callback" else action.kind,
                "confirm": action.confirmation_message,
                "overlay": action.show_overlay,
            }
            if enabled and action.kind == "link":
                item["href"] = self._link(action.url, job)
                item["enabled"] = item["href"] is not None
            if enabled and action.kind == "modal":
                item["modal"] = self._link(action.modal_url, job)
                item["enabled"] = item["modal"] is not None
            items.append(item)
        return items

    def _custom_enabled(self, action, job) -> bool:
        carried = None
        if not action.enabled_available:
            carried = load_enabled(self.carried.get(job.pk), job).get(action.name)
        try:
            enabled = action.is_enabled(job, carried)
        except Exception:  # noqa: BLE001 - a broken test disables the action, row still shows
            logger.exception("Jobs table: enabled_callback of %s failed for job %s",
                             action.name, job.pk)
            return False
        if action.carries_enabled and (action.enabled_available or carried is not None) \
                and isinstance(job, action.job_type):
            self._known.setdefault(job.pk, {})[action.name] = enabled
        return enabled

    @staticmethod
    def _link(spec, job):
        try:
            return job_url(spec, job.pk)
        except Exception:  # noqa: BLE001 - a link that cannot be built is shown disabled
            logger.exception("Jobs table: cannot build link %r for job %s", spec, job.pk)
            return None

    # --- HTML ---------------------------------------------------------------------------
    def render(self, rows: list[dict]) -> str:
        """HTML of ``rows`` (``<tr>`` elements, detail rows included): the text of
        ``rows.html``, written by :func:`.row_html.render_rows` (no template engine: the
        poll and the ``rows`` endpoint render up to a page of rows per request). A
        project that overrides ``rows.html`` gets its own template rendered here, as in
        the table's first render."""
        template = get_template(ROW_TEMPLATE)
        origin = getattr(getattr(template, "origin", None), "name", None)
        if origin and _is_our_row_template(origin):
            return render_rows(rows, self.table_context())
        return template.render({"rows": rows, "t": self.table_context()})

    def table_context(self) -> dict:
        return {
            "show_status": self.config.show_status,
            "show_actions": self.config.show_actions,
            "num_cols": self.config.num_cols,
        }
