"""The jobs table's ``usage`` column: a job's peak memory against what it asked for
(``"3.1 of 32 GB"``), from the usage its engine reported (``job.usage``, issue 15 item 6).
Put ``"usage"`` (or ``("Memory used", "usage")``) in ``column_fields``; it sorts by the
peak memory."""

from __future__ import annotations

FIELD = "usage"
SORT = "usage_peak_memory_mb"


def _amount(mb: float, unit: str) -> str:
    if unit == "GB":
        value = mb / 1024
        return f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return f"{mb:.0f}"


def memory_text(peak_mb, requested_mb) -> str:
    """``"3.1 of 32 GB"`` (GB from 1024 MB up, else MB), ``"3.1 GB"`` without a request,
    ``""`` without a peak. Inputs in MB (``int``/``float`` or ``None``)."""
    if peak_mb is None:
        return ""
    largest = max(peak_mb, requested_mb or 0)
    unit = "GB" if largest >= 1024 else "MB"
    if requested_mb:
        return f"{_amount(peak_mb, unit)} of {_amount(requested_mb, unit)} {unit}"
    return f"{_amount(peak_mb, unit)} {unit}"


def usage_text(job) -> str:
    """The cell text of ``job``'s usage column (never contacts an engine)."""
    return memory_text(getattr(job, "usage_peak_memory_mb", None),
                       getattr(job, "usage_requested_memory_mb", None))


def usage_title(job) -> str:
    """The cell's longer description: wall and CPU time, CPUs and disk."""
    parts = []
    wall, cpu = getattr(job, "usage_wall_seconds", None), getattr(job, "usage_cpu_seconds", None)
    if wall is not None:
        parts.append(f"wall {wall:.0f} s")
    if cpu is not None:
        parts.append(f"CPU {cpu:.0f} s")
    cpus = getattr(job, "usage_requested_cpus", None)
    if cpus:
        parts.append(f"{cpus} CPU{'s' if cpus != 1 else ''} requested")
    disk = getattr(job, "usage_disk_kb", None)
    if disk is not None:
        parts.append(f"disk {memory_text(disk / 1024, None)}")
    return ", ".join(parts)
