"""Numbers as people read them on the app's pages: flows in whole 10^8 m^3 with
thousands separators, parameters to three significant figures, shares in whole percent,
durations in seconds or minutes. The stored results keep full precision (the "Raw
result" block shows them)."""

from __future__ import annotations

import math
from datetime import timedelta

from scipy import stats


def whole(value) -> str:
    """``1097.75`` -> ``"1,098"``."""
    return f"{float(value):,.0f}"


def sig(value, digits=3) -> str:
    """``value`` to ``digits`` significant figures: ``0.28463`` -> ``"0.285"``,
    ``1180.3`` -> ``"1,180"``, ``-3.14159e-05`` -> ``"-3.14e-05"``."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.{digits - 1}e}")  # 99.95 -> 100.0: the exponent after rounding
    exponent = math.floor(math.log10(abs(rounded)))
    if exponent < -3 or exponent >= 9:
        return f"{value:.{digits - 1}e}"
    return f"{rounded:,.{max(digits - 1 - exponent, 0)}f}"


def percent(fraction) -> str:
    """``0.4567`` -> ``"46%"``."""
    return f"{100 * float(fraction):.0f}%"


def duration(value) -> str:
    """A run time as ``"3.2 s"``, ``"4 min 5 s"`` or ``"2 h 3 min"``; ``""`` for none."""
    if value in ("", None):
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def parameters(distribution, params) -> list[tuple[str, str]]:
    """The fitted parameters by scipy.stats name (shapes, then ``loc``, ``scale``), each
    to three significant figures."""
    shapes = getattr(stats, distribution).shapes
    names = [name.strip() for name in shapes.split(",")] if shapes else []
    names += ["loc", "scale"]
    return [(name, sig(value)) for name, value in zip(names, params, strict=False)]
