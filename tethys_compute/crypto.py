"""Encryption of scheduler secrets at rest (passwords, key passphrases).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).
Keys come from ``TETHYS_COMPUTE["SECRET_KEYS"]`` (a list of Fernet keys, newest first)
followed by keys derived with HKDF-SHA256 from Django's ``SECRET_KEY`` and its
``SECRET_KEY_FALLBACKS``. Encryption uses the first key; decryption tries each, so
switching to explicit keys keeps existing values readable, and rotating is: put the new
key first, keep the old ones, run ``manage.py tethys_compute_schedulers reencrypt`` (or
save each scheduler), then drop the old keys.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX = "fernet$"
_INFO = b"tethys_compute scheduler secrets v1"


def _derive(secret: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    from .conf import get_config

    explicit = [Fernet(key) for key in get_config().get("SECRET_KEYS") or []]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    derived = [Fernet(_derive(secret)) for secret in secrets if secret]
    # Explicit keys encrypt (the first) and are tried first; the keys derived from
    # SECRET_KEY still open values written before SECRET_KEYS was set.
    return MultiFernet(explicit + derived)


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "TETHYS_COMPUTE"):
        _fernet.cache_clear()


def is_encrypted(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(value: str) -> str:
    """Return ``value`` encrypted, as ``"fernet$<token>"``."""
    return PREFIX + _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(value: str) -> str:
    """Return the plain text of an ``encrypt()``-ed value.

    :raises ValueError: when no configured key opens it (keys rotated away, or tampered).
    """
    try:
        return _fernet().decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError) as exc:
        raise ValueError(
            "A stored scheduler secret cannot be decrypted with the configured keys "
            "(SECRET_KEY / SECRET_KEY_FALLBACKS or TETHYS_COMPUTE['SECRET_KEYS'])."
        ) from exc


def rotate(value: str) -> str:
    """Re-encrypt an encrypted value with the newest key."""
    return PREFIX + _fernet().rotate(value[len(PREFIX):].encode("ascii")).decode("ascii")
