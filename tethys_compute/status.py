"""Job status codes, display names and categories, as Tethys Platform defines them.

The codes and display names are Tethys's (``tethys_compute.models.TethysJob.STATUSES``).
Tethys keeps its categories as lists shared by every job class, so a custom status added
for one class leaks into all; here each class keeps its own additions
(:class:`StatusCategory`), inherited by its subclasses.
"""

from __future__ import annotations

PENDING = "PEN"
SUBMITTED = "SUB"
RUNNING = "RUN"
VARIOUS = "VAR"
PAUSED = "PAS"
COMPLETE = "COM"
ERROR = "ERR"
ABORTED = "ABT"
VARIOUS_COMPLETE = "VCP"
RESULTS_READY = "RES"
OTHER = "OTH"

#: ``(code, display name)`` pairs in Tethys's order.
STATUSES = (
    (PENDING, "Pending"),
    (SUBMITTED, "Submitted"),
    (RUNNING, "Running"),
    (VARIOUS, "Various"),
    (PAUSED, "Paused"),
    (COMPLETE, "Complete"),
    (ERROR, "Error"),
    (ABORTED, "Aborted"),
    (VARIOUS_COMPLETE, "Various-Complete"),
    (RESULTS_READY, "Results-Ready"),
    (OTHER, "Other"),
)

VALID_STATUSES = [code for code, _ in STATUSES]
DISPLAY_STATUSES = [display for _, display in STATUSES]
REVERSE_STATUSES = {display: code for code, display in STATUSES}
STATUS_DISPLAY = dict(STATUSES)

NON_TERMINAL_STATUS_CODES = [PENDING, SUBMITTED, RUNNING, VARIOUS, PAUSED]
TERMINAL_STATUS_CODES = [COMPLETE, ERROR, ABORTED, VARIOUS_COMPLETE, RESULTS_READY]
RESULTS_STATUS_CODES = [COMPLETE, VARIOUS_COMPLETE, RESULTS_READY]
#: Codes a job that can still change may have (the first term of ``active()``'s SQL;
#: "Other" is active unless its text is registered as terminal).
MAYBE_ACTIVE_STATUS_CODES = [*NON_TERMINAL_STATUS_CODES, OTHER]

#: ``extended_properties`` key holding the text of an ``OTH`` (custom) status.
OTHER_STATUS_KEY = "__other_status__"

# Display-name categories (Tethys slices DISPLAY_STATUSES the same way).
BASE_CATEGORIES = {
    "PRE_RUNNING_STATUSES": DISPLAY_STATUSES[:2],
    "RUNNING_STATUSES": DISPLAY_STATUSES[2:4],
    "ACTIVE_STATUSES": DISPLAY_STATUSES[1:5],
    "NON_TERMINAL_STATUSES": DISPLAY_STATUSES[0:5],
    "TERMINAL_STATUSES": DISPLAY_STATUSES[5:-1],
}

#: Which categories each ``add_custom_*_status`` classmethod extends (as Tethys).
CUSTOM_STATUS_TARGETS = {
    "pre_running": ("PRE_RUNNING_STATUSES", "NON_TERMINAL_STATUSES"),
    "running": ("RUNNING_STATUSES", "ACTIVE_STATUSES", "NON_TERMINAL_STATUSES"),
    "active": ("ACTIVE_STATUSES", "NON_TERMINAL_STATUSES"),
    "terminal": ("TERMINAL_STATUSES",),
}


def display_name(code: str) -> str:
    """Return the display name of a status code (``"COM"`` -> ``"Complete"``)."""
    return STATUS_DISPLAY[code]


def to_code(status: str) -> tuple[str, str | None]:
    """Turn a code, display name or custom text into ``(code, other_text)``.

    ``"COM"`` and ``"Complete"`` both give ``("COM", None)``; any other non-empty string
    gives ``("OTH", text)`` as Tethys stores custom statuses.

    :raises ValueError: if ``status`` is not a non-empty string.
    """
    if not isinstance(status, str) or not status.strip():
        raise ValueError(f"A job status must be a non-empty string, not {status!r}.")
    if status in STATUS_DISPLAY:
        return status, None
    if status in REVERSE_STATUSES:
        return REVERSE_STATUSES[status], None
    return OTHER, status[:1024]


class StatusCategory:
    """A display-name category read from a job class, e.g. ``TethysJob.TERMINAL_STATUSES``.

    The value is Tethys's base list plus the custom statuses registered on the class and
    on its ancestors, so registering on one class never changes a sibling. Each access
    returns a new list.
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner):
        values = list(BASE_CATEGORIES[self.name])
        for klass in reversed(owner.__mro__):
            for value in klass.__dict__.get("_custom_statuses", {}).get(self.name, ()):
                if value not in values:
                    values.append(value)
        return values


def register_custom_status(cls, status: str, kind: str) -> None:
    """Record ``status`` (a display string) on ``cls`` only, in the categories of ``kind``."""
    if not isinstance(status, str) or not status.strip():
        raise ValueError(f"A custom status must be a non-empty string, not {status!r}.")
    if status in STATUS_DISPLAY or status in REVERSE_STATUSES:
        raise ValueError(f'"{status}" is a built-in status and cannot be re-registered.')
    registry = cls.__dict__.get("_custom_statuses")
    if registry is None:
        registry = {}
        cls._custom_statuses = registry
    for category in CUSTOM_STATUS_TARGETS[kind]:
        values = registry.setdefault(category, [])
        if status not in values:
            values.append(status)
