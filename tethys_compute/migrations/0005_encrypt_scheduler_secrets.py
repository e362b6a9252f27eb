# Scheduler passwords and key passphrases are encrypted at rest; plain-text values left
# by Tethys are encrypted in place.

import tethys_compute.models.fields
from django.db import migrations


def encrypt_existing(apps, schema_editor):
    CondorScheduler = apps.get_model("tethys_compute", "CondorScheduler")
    for scheduler in CondorScheduler.objects.exclude(password__isnull=True, private_key_pass__isnull=True):
        # Loading reads plain text as it is; saving encrypts it.
        scheduler.save(update_fields=["password", "private_key_pass"])


class Migration(migrations.Migration):

    dependencies = [
        ('tethys_compute', '0004_tethys_compute_additions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='condorscheduler',
            name='password',
            field=tethys_compute.models.fields.EncryptedCharField(blank=True, max_length=1024, null=True),
        ),
        migrations.AlterField(
            model_name='condorscheduler',
            name='private_key_pass',
            field=tethys_compute.models.fields.EncryptedCharField(blank=True, max_length=1024, null=True),
        ),
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
    ]
