"""``JobsTable``: the options of a jobs table (Tethys's gizmo options, same arguments and
defaults), rendered with ``{% load tethys_compute %}{% jobs_table options %}``."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import Count, QuerySet
from django.urls import reverse

from ..bounded import Counted, capped_count
from ..conf import get_config
from . import columns as cols
from .actions import BUILTIN_ACTIONS, DEFAULT_ACTIONS, SEPARATOR
from .custom import CustomJobAction
from .links import check_link
from .query import describe, pinned_labels
from .tokens import TableConfig, dump_ids

if TYPE_CHECKING:
    from ..models import TethysJob

logger = logging.getLogger("tethys_compute.jobs_table")

# Tethys 2/3 arguments (a TypeError in Tethys 4), accepted with a warning: a false one
# removes its action from the default menu.
LEGACY_BUTTONS = {"run_btn": "run", "delete_btn": "delete", "show_resubmit_btn": "resubmit",
                  "show_log_btn": "logs"}

DEFAULT_DATA_TABLE_OPTIONS = {"ordering": True, "searching": False, "paging": False}
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_:][-A-Za-z0-9_:.]*$")


def _sorted(jobs: list, sort, reverse_sort) -> list:
    """Tethys's order: by ``sort`` when it is callable, else by ``creation_time`` when
    ``sort`` is true, else as given; reversed with ``reverse_sort``."""
    if callable(sort):
        jobs.sort(key=sort, reverse=bool(reverse_sort))
    elif sort:
        jobs.sort(
            key=lambda job: (job.creation_time is not None, job.creation_time, job.pk),
            reverse=bool(reverse_sort),
        )
    elif reverse_sort:
        jobs.reverse()
    return jobs


def _table_order(query_order: list[str], sort, reverse_sort) -> list[str]:
    """The order of a table over a query, as ``order_by`` fields: the one
    :func:`_sorted` gives (``creation_time`` when ``sort``, else the query's), ended by
    the primary key so that pages never overlap."""
    if sort:
        order = ["creation_time", "pk"]
    else:
        order = list(query_order)
        if not {name.lstrip("-") for name in order} & {"pk", "id"}:
            order.append("pk")
    if reverse_sort:
        order = [name[1:] if name.startswith("-") else f"-{name}" for name in order]
    return order


def _subclass_instances(jobs):
    """``jobs`` as instances of their own classes (one query when some are base
    ``TethysJob`` rows, e.g. from ``TethysJob.objects.filter(...)``)."""
    from ..models import TethysJob

    if not any(type(job) is TethysJob for job in jobs):
        return jobs
    loaded = TethysJob.objects.filter(pk__in=[job.pk for job in jobs]).select_subclasses()
    by_id = {job.pk: job for job in loaded}
    return [by_id.get(job.pk, job) for job in jobs]


class JobsTable(dict):
    """Options of a jobs table (Tethys's ``JobsTable`` gizmo options).

    :param jobs: the jobs to show: a queryset (e.g. ``job_manager.list_jobs(user)``) or
        an iterable of jobs.
    :param column_fields: columns: ``"field"`` or ``("Title", "field")``; a field is a
        job attribute or property, or ``extended_properties.a.b``. Fields the first job
        does not have are left out with a warning (as Tethys).
    :param show_status: show the Status column.
    :param show_actions: show the actions menu.
    :param monitor_url: link of the "Monitor Job" action (offered while running): a URL
        name taking ``job_id`` or a path with ``{job_id}``. Empty: no such action.
    :param results_url: link of the "View Results" action (offered once finished), as
        ``monitor_url``.
    :param hover, striped, bordered, condensed: Bootstrap table styles (``condensed``
        is Bootstrap 5's ``table-sm``).
    :param attributes: extra HTML attributes of the ``<table>`` (``dict``).
    :param classes: extra CSS classes of the ``<table>`` (``str``).
    :param refresh_interval: milliseconds between two live updates of the table (one
        request per interval for all its unfinished rows).
    :param delay_loading_status: show the stored statuses at once and refresh them with
        the first live update (true), or refresh stale statuses (bounded) before
        rendering (false).
    :param show_detailed_status: show a workflow's graph of nodes below its row.
    :param actions: the menu: built-in keys (``run``, ``pause``, ``resume``,
        ``resubmit``, ``logs``, ``monitor``, ``results``, ``terminate``, ``delete``),
        ``"|"`` separators, and custom actions as :class:`CustomJobAction` objects,
        tuples (its positional arguments) or dicts (its keyword arguments).
    :param enable_data_table: sortable columns, paging and search, done on the server
        (no DataTables library needed), set by ``data_table_options``.
    :param data_table_options: DataTables' option names: ``ordering`` (sortable columns),
        ``paging`` with ``pageLength`` (rows per page, default 10) and ``searching`` (a
        search box on name and description). Default ``{"ordering": True, "searching":
        False, "paging": False}``.
    :param sort: sort the jobs: true sorts by ``creation_time``, a callable is used as
        the sort key, false keeps the given order.
    :param reverse_sort: reverse that order.
    :param run_btn, delete_btn, show_resubmit_btn, show_log_btn: Tethys 2/3 arguments
        (Tethys 4 raises ``TypeError``): accepted with a logged warning; a false one
        removes ``run``, ``delete``, ``resubmit`` or ``logs`` from the default menu
        (an explicit ``actions`` list is kept as given).
    :raises ValueError: ``'The action "x" is not a valid default action.'`` for an
        unknown action key, the :class:`CustomJobAction` errors, and on malformed
        ``column_fields``, links, ``attributes`` or ``refresh_interval``.
    """

    gizmo_name = "jobs_table"

    def __init__(
        self,
        jobs: Iterable[TethysJob],
        column_fields: Sequence[str] | None,
        show_status: bool = True,
        show_actions: bool = True,
        monitor_url: Any = "",
        results_url: Any = "",
        hover: bool = False,
        striped: bool = False,
        bordered: bool = False,
        condensed: bool = False,
        attributes: dict[str, Any] | None = None,
        classes: str = "",
        refresh_interval: int = 5000,
        delay_loading_status: bool = True,
        show_detailed_status: bool = False,
        actions: Sequence[str | CustomJobAction] | None = None,
        enable_data_table: bool = False,
        data_table_options: dict[str, Any] | None = None,
        sort: bool | Callable[..., Any] = True,
        reverse_sort: bool = False,
        run_btn: bool | None = None,
        delete_btn: bool | None = None,
        show_resubmit_btn: bool | None = None,
        show_log_btn: bool | None = None,
    ) -> None:
        super().__init__()
        legacy = {"run_btn": run_btn, "delete_btn": delete_btn,
                  "show_resubmit_btn": show_resubmit_btn, "show_log_btn": show_log_btn}
        self.__dict__ = self
        self.attributes = self._check_attributes(attributes)
        self.classes = classes or ""
        if not isinstance(self.classes, str):
            raise ValueError(f"classes must be a string, not {classes!r}.")
        if data_table_options is not None and not isinstance(data_table_options, dict):
            raise ValueError(f"data_table_options must be a dict, not {data_table_options!r}.")
        self._paged: dict[str, Any] | None = None
        # A queryset (with no sort callable) is carried as its query, re-run by pages and
        # live updates; one that cannot be carried exactly is kept as a list of jobs.
        self._source = describe(jobs) \
            if isinstance(jobs, QuerySet) and not callable(sort) else None
        if self._source is not None:
            self._source["o"] = _table_order(self._source["o"], sort, reverse_sort)
        paging = bool(enable_data_table) and bool((data_table_options or {}).get("paging"))
        if paging and isinstance(jobs, QuerySet) and not callable(sort):
            self.jobs = self._paged_queryset(jobs, sort, reverse_sort, data_table_options)
            paged: dict[str, Any] = self._paged or {"first": []}  # set by _paged_queryset
            first = paged["first"][0] if paged["first"] else None
        else:
            self.jobs = _sorted(_subclass_instances(list(jobs)), sort, reverse_sort)
            first = self.jobs[0] if self.jobs else None
        self.sort = sort
        self.reverse_sort = reverse_sort
        parsed = cols.parse_columns(column_fields)
        # As Tethys: columns are validated against the first job; with no job there are
        # none (column_fields and column_names empty, only Status and Actions shown).
        self.columns = cols.validate_columns(parsed, first) if first is not None else []
        self.column_fields = [column.field for column in self.columns]
        self.column_names = [column.title for column in self.columns]
        self.show_status = bool(show_status)
        self.show_actions = bool(show_actions)
        self.monitor_url = check_link(monitor_url, "monitor_url") if monitor_url else ""
        self.results_url = check_link(results_url, "results_url") if results_url else ""
        self.hover = bool(hover)
        self.striped = bool(striped)
        self.bordered = bool(bordered)
        self.condensed = bool(condensed)
        if isinstance(refresh_interval, bool) or not isinstance(refresh_interval, (int, float)) \
                or refresh_interval <= 0:
            raise ValueError(
                "refresh_interval must be a positive number of milliseconds, "
                f"not {refresh_interval!r}."
            )
        self.refresh_interval = int(refresh_interval)
        self.delay_loading_status = bool(delay_loading_status)
        self.show_detailed_status = bool(show_detailed_status)
        self.enable_data_table = bool(enable_data_table)
        self.data_table_options = (
            dict(DEFAULT_DATA_TABLE_OPTIONS) if data_table_options is None else data_table_options
        )
        self.active_statuses = self._active_statuses()
        self._menu = self._build_menu(self._legacy_actions(actions, legacy))
        self.actions = self._tethys_actions()

    # --- jobs ------------------------------------------------------------------------------
    def _paged_queryset(self, jobs, sort, reverse_sort, options):
        """A paged table of a queryset: only the ids and labels of all its jobs are read
        (one query), and the jobs of the first page (one query); ``jobs`` stays a lazy,
        ordered queryset of the jobs as their own classes."""
        if hasattr(jobs, "select_subclasses"):
            jobs = jobs.select_subclasses()
        if self._source is not None:
            jobs = jobs.order_by(*self._source["o"])
        elif sort:
            sign = "-" if reverse_sort else ""
            jobs = jobs.order_by(f"{sign}creation_time", f"{sign}pk")
        elif reverse_sort:
            jobs = jobs.reverse()
        length = options.get("pageLength", 10)
        length = length if isinstance(length, int) and length > 0 else 10
        if self._source is not None:
            # By the query: its count and its first page, never the list of its ids.
            # A query pinning its apps is counted up to COUNT_LIMIT (one query);
            # otherwise one query reads the count and the apps: the jobs per label.
            labels = pinned_labels(self._source)
            if labels is None:
                per_label = dict(jobs.order_by().values_list("label").annotate(n=Count("pk")))
                labels, found = sorted(per_label), sum(per_label.values())
                limit = int(get_config()["COUNT_LIMIT"])
                counted = Counted(min(found, limit), found > limit)
            else:
                counted = capped_count(jobs)
            self._paged = {"ids": None, "total": counted.value, "more": counted.more,
                           "labels": labels, "first": list(jobs[:length])}
            return jobs
        pairs = list(jobs.values_list("pk", "label"))
        ids = [pk for pk, _ in pairs]
        loaded = {job.pk: job for job in jobs.filter(pk__in=ids[:length])}
        self._paged = {
            "ids": ids,
            "labels": sorted({label for _, label in pairs}),
            "total": len(ids),
            "first": [loaded[pk] for pk in ids[:length] if pk in loaded],
        }
        return jobs

    def _all_labels(self):
        if self._paged is not None:
            return self._paged["labels"]
        pinned = pinned_labels(self._source) if self._source is not None else None
        return pinned if pinned is not None else sorted({job.label for job in self.jobs})

    def _some_jobs(self):
        """The jobs already loaded (the first page of a paged queryset)."""
        return self._paged["first"] if self._paged is not None else self.jobs

    # --- validation ------------------------------------------------------------------------
    @staticmethod
    def _check_attributes(attributes):
        attributes = {} if attributes is None else attributes
        if not isinstance(attributes, dict):
            raise ValueError(f"attributes must be a dict of HTML attributes, not {attributes!r}.")
        for name in attributes:
            if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name) or \
                    name.lower().startswith("on"):
                raise ValueError(f"{name!r} is not an allowed HTML attribute name.")
        return attributes

    def _active_statuses(self):
        from ..models import TethysJob

        statuses = list(TethysJob.ACTIVE_STATUSES)
        for klass in {type(job) for job in self._some_jobs()}:
            statuses += [s for s in klass.ACTIVE_STATUSES if s not in statuses]
        return statuses

    def _legacy_actions(self, actions, legacy):
        """Apply Tethys 2/3's ``*_btn`` arguments (warned about) to the default menu."""
        given = {name: value for name, value in legacy.items() if value is not None}
        for name in given:
            logger.warning(
                "JobsTable: %s is a Tethys 2/3 argument (Tethys 4 raises TypeError); use "
                "actions=[...] instead.", name,
            )
        if actions is not None or not given:
            return actions
        dropped = {LEGACY_BUTTONS[name] for name, value in given.items() if not value}
        dropped |= {key for key in ("monitor", "results") if not getattr(self, f"{key}_url")}
        menu = []
        for item in DEFAULT_ACTIONS:
            if item in dropped or (item == SEPARATOR and menu[-1:] == [SEPARATOR]):
                continue  # no two separators in a row once an action is dropped
            menu.append(item)
        return menu

    def _build_menu(self, actions):
        """The menu as built-in keys, separators and :class:`CustomJobAction` objects."""
        items = list(DEFAULT_ACTIONS if actions is None else actions)
        for key, url in (("monitor", self.monitor_url), ("results", self.results_url)):
            if url and key not in items:
                items.append(key)
            if not url:
                items = [item for item in items if item != key]
        menu = []
        for item in items:
            if item == SEPARATOR:
                menu.append(SEPARATOR)
            elif isinstance(item, str):
                if item not in BUILTIN_ACTIONS:
                    raise ValueError(f'The action "{item}" is not a valid default action.')
                menu.append(item)
            elif isinstance(item, CustomJobAction):
                menu.append(item)
            elif isinstance(item, (tuple, list)):
                menu.append(CustomJobAction(*item))
            elif isinstance(item, dict):
                menu.append(CustomJobAction(**item))
            else:
                raise ValueError(
                    f"Invalid action {item!r}: use a built-in action name, \"|\", a "
                    "CustomJobAction, or its arguments as a tuple or dict."
                )
        return menu

    def _tethys_actions(self):
        """Tethys's ``actions`` view: ``{label: properties}`` with ``_sep_<i>`` entries."""
        result = {}
        for index, item in enumerate(self._menu):
            if item == SEPARATOR:
                result[f"_sep_{index}"] = {"sep": index}
            elif isinstance(item, CustomJobAction):
                result[item.label] = item.properties
            else:
                action = BUILTIN_ACTIONS[item]
                result[action.label] = {
                    "callback": action.method,
                    "url": {"monitor": self.monitor_url, "results": self.results_url}.get(item),
                    "modal_url": None,
                    "confirmation_message": action.confirmation_message,
                    "show_overlay": action.show_overlay,
                }
        return result

    # --- rendering --------------------------------------------------------------------------
    @property
    def num_cols(self):
        return len(self.columns) + int(self.show_status) + int(self.show_actions)

    def table_config(self) -> TableConfig:
        """The signed-state view of these options (see :mod:`.tokens`)."""
        menu = []
        for item in self._menu:
            if isinstance(item, CustomJobAction):
                menu.append({"custom": item.name, "def": item.describe()})
            else:
                menu.append(item)
        return TableConfig(
            columns=self.columns,
            labels=self._all_labels(),
            actions=menu,
            links={"monitor": self.monitor_url, "results": self.results_url},
            show_status=self.show_status,
            show_actions=self.show_actions,
            show_detailed_status=self.show_detailed_status,
            data_table=self._data_table(),
            source=self._source,
        )

    def _data_table(self):
        if not self.enable_data_table:
            return None
        options = self.data_table_options
        length = options.get("pageLength", 10)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(
                f'data_table_options["pageLength"] must be a positive integer, not {length!r}.'
            )
        return {
            "ordering": bool(options.get("ordering", True)),
            "paging": bool(options.get("paging", False)),
            "page_length": length,
            "searching": bool(options.get("searching", False)),
        }

    def get_context(self, request=None, csrf_token=None) -> dict:
        """The template context of the table (rows built from the database)."""
        from django.conf import settings

        from .pages import digest, first_page
        from .rows import RowBuilder

        config = self.table_config()
        builder = RowBuilder(config)
        data_table = config.data_table
        page: dict | None = None
        if self._paged is not None and data_table:
            ids = self._paged["ids"]
            length = data_table["page_length"]
            pages = max(1, -(-self._paged["total"] // length))
            page = {"jobs": list(self._paged["first"]), "number": 1, "pages": pages,
                    "total": self._paged["total"], "more": self._paged.get("more", False),
                    "length": length}
            shown = page["jobs"]
        else:
            ids = [job.pk for job in self.jobs]
            shown = list(self.jobs)
            if data_table and data_table["paging"]:
                page = first_page(shown, data_table["page_length"])
                shown = page["jobs"]
        live = self._source is not None
        shown_page = page or {"jobs": shown, "number": 1, "pages": 1, "total": len(shown)}
        page_digest = digest(shown_page) if live else ""
        if not self.delay_loading_status and shown:
            from .refresh import refresh_due

            fresh = {job.pk: job for job in refresh_due(shown)}
            shown = [fresh.get(job.pk, job) for job in shown]
        builder.prepare(shown)
        rows = [builder.row(job) for job in shown]
        table_classes = ["table", "jobs-table", "tc-jobs-table"]
        for flag, css in ((self.hover, "table-hover"), (self.striped, "table-striped"),
                          (self.bordered, "table-bordered"), (self.condensed, "table-sm")):
            if flag:
                table_classes.append(css)
        if self.classes:
            table_classes.append(self.classes)
        header = settings.CSRF_HEADER_NAME
        header = header[5:] if header.startswith("HTTP_") else header
        return {
            "table_id": f"jobs-table-{uuid.uuid4().hex[:8]}",
            "table_classes": " ".join(table_classes),
            "attributes": self.attributes,
            "columns": [
                {"title": c.title, "css": c.css, "index": i,
                 "sortable": bool(data_table and data_table["ordering"]
                                  and cols.sort_expression(c))}
                for i, c in enumerate(self.columns)
            ],
            "rows": rows,
            "t": builder.table_context(),
            "menu": builder.menu_items(),
            "config_token": config.dumps(),
            "rows_token": dump_ids(ids) if data_table and not live else "",
            "live": live,
            "digest": page_digest,
            "data_table": data_table,
            "page": page,
            "refresh_interval": self.refresh_interval,
            "urls": {
                "poll": reverse("jobs_table_poll"),
                "action": reverse("jobs_table_action"),
                "rows": reverse("jobs_table_rows"),
                "logs": reverse("jobs_table_logs"),
                "log_content": reverse("jobs_table_log_content"),
                "log_download": reverse("jobs_table_log_download"),
                "log_follow": reverse("jobs_table_log_follow"),
            },
            "log_max_bytes": int(get_config()["JOBS_TABLE_LOG_MAX_BYTES"]),
            "csrf_token": csrf_token or "",
            "csrf_cookie": settings.CSRF_COOKIE_NAME,
            "csrf_header": header.replace("_", "-"),
        }

    @property
    def rows(self):
        """Tethys's ``rows``: the row data of every job (built from the database)."""
        from .rows import RowBuilder

        builder = RowBuilder(self.table_config())
        builder.prepare(self.jobs)
        return [builder.row(job) for job in self.jobs]
