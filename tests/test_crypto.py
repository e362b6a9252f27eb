import pytest
from cryptography.fernet import Fernet
from django.db import connection

from tethys_compute import crypto
from tethys_compute.models import CondorScheduler


def test_round_trip_and_prefix():
    token = crypto.encrypt("hunter2")
    assert token.startswith("fernet$") and "hunter2" not in token
    assert crypto.decrypt(token) == "hunter2"


def test_secret_key_fallbacks_allow_rotation(settings):
    settings.SECRET_KEY = "old-key"
    token = crypto.encrypt("pw")
    settings.SECRET_KEY = "new-key"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(token)
    settings.SECRET_KEY_FALLBACKS = ["old-key"]
    assert crypto.decrypt(token) == "pw"
    rotated = crypto.rotate(token)
    settings.SECRET_KEY_FALLBACKS = []
    assert crypto.decrypt(rotated) == "pw"


def test_explicit_keys(settings):
    key = Fernet.generate_key().decode()
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SECRET_KEYS": [key]}
    token = crypto.encrypt("pw")
    assert Fernet(key).decrypt(token[len("fernet$"):].encode()) == b"pw"


@pytest.mark.django_db
def test_undecryptable_value_loads_as_none(settings):
    CondorScheduler.objects.create(name="p", host="h", password="pw")
    settings.SECRET_KEY = "rotated-away"
    assert CondorScheduler.objects.get().password is None


@pytest.mark.django_db
def test_plain_text_left_by_tethys_is_read_and_encrypted_on_save():
    scheduler = CondorScheduler.objects.create(name="p", host="h")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tethys_compute_condorscheduler SET password = %s", ["legacy"])
    scheduler = CondorScheduler.objects.get()
    assert scheduler.password == "legacy"
    scheduler.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM tethys_compute_condorscheduler")
        assert cursor.fetchone()[0].startswith("fernet$")


def test_switching_to_explicit_keys_keeps_old_values_readable(settings):
    token = crypto.encrypt("pw")  # derived from SECRET_KEY
    key = Fernet.generate_key().decode()
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SECRET_KEYS": [key]}
    assert crypto.decrypt(token) == "pw"
    rotated = crypto.rotate(token)
    assert Fernet(key).decrypt(rotated[len("fernet$"):].encode()) == b"pw"
