"""Scheduler secrets as the admin and the commands handle them: write-only, masked,
and redacted from any text shown to an operator (messages, command output)."""

from __future__ import annotations

#: Secret fields of ``CondorScheduler`` and how to name them to a person.
SECRET_FIELDS = {"password": "password", "private_key_pass": "private key passphrase"}

#: What is shown in place of a stored secret.
MASK = "******"


def stored_secrets(scheduler) -> list[str]:
    """The non-empty secret values held by ``scheduler`` (plain text, in memory only)."""
    return [
        value
        for value in (getattr(scheduler, name, None) for name in SECRET_FIELDS)
        if isinstance(value, str) and value
    ]


def mask(value) -> str:
    """:data:`MASK` for a stored secret, ``""`` when none is stored."""
    return MASK if value else ""


def redact(text, scheduler) -> str:
    """Return ``text`` with every secret of ``scheduler`` replaced by :data:`MASK`.

    Used on anything an engine says back (exception messages can quote what they were
    given), before it reaches a page, a log entry or a terminal.
    """
    text = str(text)
    for secret in sorted(stored_secrets(scheduler), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def auth_summary(scheduler) -> str:
    """How ``scheduler`` logs in, without its secrets: ``"password"``, ``"private key"``,
    ``"private key + passphrase"`` (or combinations), or ``"none"``."""
    methods = []
    if getattr(scheduler, "password", None):
        methods.append("password")
    if getattr(scheduler, "private_key_path", None):
        methods.append(
            "private key + passphrase" if getattr(scheduler, "private_key_pass", None)
            else "private key"
        )
    return ", ".join(methods) or "none"
