"""The signed state a rendered jobs table hands to its endpoints.

A table's options (columns, actions, links, the apps whose jobs it shows) travel with
each request as a token signed with Django's signing (``SECRET_KEY``), so the browser
cannot change them: it cannot add a column that reads some other attribute, an action
that calls some other method, or widen the table to another app's jobs. A token grants
nothing by itself: every request is still checked against the user (see ``access``).

A table built from a queryset carries its query (``source``, see ``query``): its pages
and live updates re-run it. A table of a fixed list carries the list of its jobs, in its
default order, in a second token (delta-encoded, compressed), sent only when asking
for a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core import signing

from .columns import Column

CONFIG_SALT = "tethys_compute.jobs_table.config"
ROWS_SALT = "tethys_compute.jobs_table.rows"
ENABLED_SALT = "tethys_compute.jobs_table.enabled"


class BadTableToken(ValueError):
    """A table token is missing, forged or malformed."""


@dataclass
class TableConfig:
    """What a rendered table needs on the server, as signed into ``data-config``.

    ``actions`` holds the menu in order: built-in keys, ``"|"`` separators and custom
    actions as ``{"custom": name, "def": description}``. ``links`` holds ``monitor``
    and ``results`` link specs. ``labels`` are the app labels (packages) of the jobs
    the table was built with; the endpoints act only on jobs of these apps.
    """

    columns: list[Column]
    labels: list[str]
    actions: list = field(default_factory=list)
    links: dict = field(default_factory=dict)
    show_status: bool = True
    show_actions: bool = True
    show_detailed_status: bool = False
    data_table: dict | None = None
    #: The table's query (:func:`.query.describe`) for a table built from a queryset;
    #: ``None`` for a table of a fixed list of jobs.
    source: dict | None = None

    def dumps(self) -> str:
        data = {
            "c": [[col.title, col.field] for col in self.columns],
            "l": sorted(self.labels),
            "a": self.actions,
            "k": self.links,
            "f": [self.show_status, self.show_actions, self.show_detailed_status],
            "d": self.data_table,
            "s": self.source,
        }
        return signing.dumps(data, salt=CONFIG_SALT, compress=True)

    @classmethod
    def loads(cls, token) -> TableConfig:
        """:raises BadTableToken: if ``token`` is not a valid table token."""
        if not isinstance(token, str) or not token:
            raise BadTableToken("missing table token")
        try:
            data = signing.loads(token, salt=CONFIG_SALT)
            show_status, show_actions, detailed = (bool(flag) for flag in data["f"])
            return cls(
                columns=[Column(str(title), str(name)) for title, name in data["c"]],
                labels=[str(label) for label in data["l"]],
                actions=list(data["a"]),
                links=dict(data["k"]),
                show_status=show_status,
                show_actions=show_actions,
                show_detailed_status=detailed,
                data_table=data["d"],
                source=_checked_source(data.get("s")),
            )
        except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
            raise BadTableToken("invalid table token") from exc

    @property
    def num_cols(self) -> int:
        return len(self.columns) + int(self.show_status) + int(self.show_actions)

    def custom_descriptions(self) -> dict[str, dict]:
        """``{name: description}`` of the table's custom actions."""
        return {
            entry["custom"]: entry["def"]
            for entry in self.actions
            if isinstance(entry, dict) and "custom" in entry
        }


def _checked_source(source):
    """A table's query as signed, checked to rebuild (so no request fails on it later)."""
    if source is None:
        return None
    from .query import rebuild

    rebuild(source)  # raises ValueError when malformed
    if not isinstance(source.get("o"), list) or \
            not all(isinstance(name, str) for name in source["o"]):
        raise ValueError("malformed table order")
    return source


def dump_ids(ids) -> str:
    """Sign a list of job ids (order kept)."""
    deltas, previous = [], 0
    for value in ids:
        deltas.append(value - previous)
        previous = value
    return signing.dumps(",".join(map(str, deltas)), salt=ROWS_SALT, compress=True)


def load_ids(token) -> list[int]:
    """:raises BadTableToken: if ``token`` is not a valid ids token."""
    if not isinstance(token, str) or not token:
        raise BadTableToken("missing rows token")
    try:
        text = signing.loads(token, salt=ROWS_SALT)
        ids, total = [], 0
        for part in text.split(",") if text else []:
            total += int(part)
            ids.append(total)
        return ids
    except (signing.BadSignature, TypeError, ValueError) as exc:
        raise BadTableToken("invalid rows token") from exc


def dump_enabled(job, states: dict[str, bool]) -> str:
    """Sign the enabled state of custom actions (``{action name: bool}``) as evaluated
    for ``job`` in its current status; carried by the row (``data-acts``)."""
    # A plain signer (no timestamp, no compression): one per row, so kept cheap.
    return signing.Signer(salt=ENABLED_SALT).sign_object([job.pk, job.cached_status, states])


def load_enabled(token, job) -> dict[str, bool]:
    """The states signed by :func:`dump_enabled` for ``job``; ``{}`` when the token is
    missing, forged, for another job, or was computed for another status (a status
    change may change the answer, so an old one is not used)."""
    if not isinstance(token, str) or not token:
        return {}
    try:
        job_id, status, states = signing.Signer(salt=ENABLED_SALT).unsign_object(token)
    except (signing.BadSignature, TypeError, ValueError):
        return {}
    if job_id != job.pk or status != job.cached_status or not isinstance(states, dict):
        return {}
    return {str(name): bool(value) for name, value in states.items()}
