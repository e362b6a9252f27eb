"""Checks of command arguments: each bad value is a ``CommandError`` naming the option
and the accepted range (also for values passed to ``call_command`` directly, which skip
argparse's ``type=``)."""

from __future__ import annotations

import math

from django.core.management.base import CommandError

#: Largest id or count the database holds (a 64-bit signed integer).
MAX_INT = 2**63 - 1


def whole_number(value, option, *, low=0, high=MAX_INT) -> int:
    """``value`` as an ``int`` from ``low`` to ``high``.

    :raises CommandError: for a non-integer or a value out of range.
    """
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise CommandError(f"{option} takes a whole number, not {value!r}.") from None
    if not low <= number <= high:
        raise CommandError(f"{option} takes {low} (all) or a whole number up to {high}, "
                           f"not {number}." if low == 0 else
                           f"{option} takes a whole number from {low} to {high}, not {number}.")
    return number


def seconds(value, option, *, high, allow_zero=False, unit="seconds") -> float:
    """``value`` as a finite ``float`` above 0 (or from 0 with ``allow_zero``) up to
    ``high``.

    :raises CommandError: for a non-number, NaN, an infinity or a value out of range.
    """
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    low_ok = number >= 0 if allow_zero else number > 0
    if not math.isfinite(number) or not low_ok or number > high:
        if allow_zero:
            raise CommandError(f"{option} takes a number of {unit}, 0 or more. It must be "
                               f"finite and at most {high:g}, not {value!r}.")
        raise CommandError(f"{option} must be a positive number of {unit}, finite and at "
                           f"most {high:g}, not {value!r}.")
    return number


def text(value, option):
    """``value`` unchanged when it is ``None`` or text without NUL characters (which no
    stored name can hold; PostgreSQL refuses them in a query).

    :raises CommandError: otherwise.
    """
    if value is not None and "\x00" in str(value):
        raise CommandError(f"{option} must not contain NUL characters.")
    return value


def no_nul_anywhere(options: dict):
    """Check every text option (and list of texts) for NUL characters.

    :raises CommandError: naming the first option holding one.
    """
    for name, value in options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, str):
                text(item, name if name.startswith("-") else f"--{name.replace('_', '-')}")
