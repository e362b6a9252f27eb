"""DaskSerializedField and result serializers (tethys_compute/models/dask/dask_field.py,
serializers.py): JSON only by default, never code on load, rows always load."""

import datetime as dt
import decimal
import uuid
from pathlib import PurePath

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from tests.testapp.app import TestApp
from tethys_compute.models import DaskJob
from tethys_compute.models.dask.dask_field import UnreadableResult, decode, encode
from tethys_compute.models.dask.serializers import TaggedValueSerializer

pytestmark = pytest.mark.django_db

TAGGED = "tethys_compute.models.dask.serializers.TaggedValueSerializer"


@pytest.fixture
def job(user):
    job = TestApp.get_job_manager().create_job("field", user, job_type="DASK")
    job.save()
    return job


def _raw(job):
    with connection.cursor() as cursor:
        cursor.execute("SELECT result FROM tethys_compute_daskjob WHERE tethysjob_ptr_id = %s",
                       [job.pk])
        return cursor.fetchone()[0]


def _write_raw(job, text):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tethys_compute_daskjob SET result = %s WHERE tethysjob_ptr_id = %s",
                       [text, job.pk])


@pytest.mark.parametrize("value", [None, 1, 2.5, "text", True, [1, "a", None],
                                   {"a": {"b": [1, 2]}}, {"__tethys_compute_result__": "x"}])
def test_json_values_round_trip(job, value):
    job.result = value
    job.save()
    assert DaskJob.objects.get(pk=job.pk).result == value


def test_json_is_what_is_stored(job):
    job.result = {"answer": 42}
    job.save()
    assert _raw(job) == '{"answer": 42}'


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", dt.date(2024, 1, 1)])
def test_values_that_are_not_json_are_refused_without_a_serializer(job, value):
    job.result = value
    with pytest.raises(ValidationError, match="DASK_RESULT_SERIALIZER"):
        job.save()


@pytest.mark.parametrize("text", [
    "not json {",
    # What Tethys stores: the repr of distributed's pickle serialization.
    "({'serializer': 'pickle'}, [b'\\x80\\x04\\x95...'])",
    '{"__tethys_compute_result__": "pickle", "data": "gASVAAAA"}',
])
def test_corrupt_or_foreign_values_never_break_the_row(job, text):
    _write_raw(job, text)
    loaded = DaskJob.objects.get(pk=job.pk)
    assert isinstance(loaded.result, UnreadableResult)
    assert not loaded.result
    assert loaded.result.raw == text
    # Saving the job again keeps the stored text untouched.
    loaded.description = "changed"
    loaded.save()
    assert _raw(job) == text
    assert list(DaskJob.objects.filter(pk=job.pk).values_list("pk", flat=True)) == [job.pk]


def test_stored_data_never_names_code_to_run(job, settings):
    # Even with a serializer configured, the data only reaches *its* loads(), and only as
    # plain JSON; a value naming another serializer or a callable is not run.
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_RESULT_SERIALIZER": TAGGED}
    _write_raw(job, '{"__tethys_compute_result__": "tagged", "data": '
                    '{"__t__": "os.system", "v": "touch /tmp/pwned"}}')
    loaded = DaskJob.objects.get(pk=job.pk)
    assert isinstance(loaded.result, UnreadableResult)
    assert "Unknown stored type tag" in loaded.result.reason


VALUES = [
    (1, 2),
    {1, 2},
    frozenset({"a"}),
    b"\x00\xff",
    dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
    dt.date(2024, 5, 6),
    dt.time(7, 8, 9),
    dt.timedelta(days=1, seconds=2, microseconds=3),
    decimal.Decimal("1.10"),
    3 + 4j,
    uuid.UUID(int=7),
    PurePath("a/b"),
    {"nested": [(1, {2})], 5: "int key"},
]


@pytest.mark.parametrize("value", VALUES)
def test_tagged_serializer_round_trips_through_the_database(job, settings, value):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_RESULT_SERIALIZER": TAGGED}
    job.result = value
    job.save()
    assert DaskJob.objects.get(pk=job.pk).result == value


def test_tagged_serializer_handles_numpy_arrays():
    import numpy  # installed with the project's demo extra (part of dev)
    serializer = TaggedValueSerializer()
    array = numpy.arange(6, dtype="int32").reshape(2, 3)
    back = serializer.loads(serializer.dumps(array))
    assert back.dtype == array.dtype and (back == array).all()
    scalar = serializer.loads(serializer.dumps(numpy.float32(1.5)))
    assert scalar == numpy.float32(1.5) and isinstance(scalar, numpy.float32)
    with pytest.raises(TypeError):
        serializer.dumps(numpy.array([object()], dtype=object))


def test_values_stored_with_a_serializer_no_longer_configured(job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_RESULT_SERIALIZER": TAGGED}
    job.result = (1, 2)
    job.save()
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_RESULT_SERIALIZER": None}
    loaded = DaskJob.objects.get(pk=job.pk)
    assert isinstance(loaded.result, UnreadableResult)
    assert "'tagged' serializer, which is not configured" in loaded.result.reason


def test_bad_serializer_setting_is_reported(job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE,
                               "DASK_RESULT_SERIALIZER": "no.such.Serializer"}
    job.result = {1}
    with pytest.raises(ValidationError, match="not usable"):
        job.save()


def test_encode_decode_helpers():
    assert encode(None) is None and decode(None) is None
    marker = UnreadableResult("raw", "why")
    assert encode(marker) == "raw"
    assert repr(marker) == "<UnreadableResult: why>"
    assert decode(encode({"__tethys_compute_result__": 1})) == {"__tethys_compute_result__": 1}
