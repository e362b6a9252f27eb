# Tethys Platform 4.3: the jobs table permission (tethys_compute 0002_alter_tethysjob_options).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("tethys_compute", "0001_initial_41"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="tethysjob",
            options={
                "permissions": [("jobs_table_actions", "Can access job's table endpoints for all jobs.")],
                "verbose_name": "Job",
            },
        ),
    ]
