import json

from django.core.exceptions import ValidationError
from django.db import models


class DaskSerializedField(models.TextField):
    """Holds a Dask job's result as JSON text (column type ``text``, as Tethys).

    Tethys stores distributed's pickle-capable serialization here and unpickles it on every
    load (reference section 10, item 25). This field stores JSON only: a value that is not
    JSON-able is refused on save, and a stored value that does not parse loads as ``None``
    instead of making the row unloadable.
    """

    description = "Result of a Dask job (JSON)"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            return None

    def to_python(self, value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        try:
            return json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Unable to serialize value: {exc}") from exc

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
