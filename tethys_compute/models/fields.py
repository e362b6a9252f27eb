import logging

from django.db import models

from .. import crypto

logger = logging.getLogger("tethys_compute.secrets")


class EncryptedCharField(models.CharField):
    """A ``CharField`` whose value is encrypted in the database (see
    :mod:`tethys_compute.crypto`) and plain text in Python.

    A stored value that cannot be decrypted (keys rotated away) loads as ``None`` and is
    logged, so the row stays loadable; plain-text values left by Tethys are read as they
    are and encrypted on the next save.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or not crypto.is_encrypted(value):
            return value
        try:
            return crypto.decrypt(value)
        except ValueError:
            logger.error("A %s value could not be decrypted; treating it as unset.", self.name)
            return None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, "") or crypto.is_encrypted(value):
            return value
        return crypto.encrypt(value)
