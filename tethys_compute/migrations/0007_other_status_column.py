# The text of a custom (OTH) status gets a column of its own, out of reach of plain saves
# of extended_properties; texts Tethys left in extended_properties["__other_status__"]
# are moved there (and moved back on reversal).

from django.db import migrations, models

KEY = "__other_status__"


def move_to_column(apps, schema_editor):
    TethysJob = apps.get_model("tethys_compute", "TethysJob")
    for job in TethysJob.objects.filter(extended_properties__has_key=KEY).only(
            "pk", "_status", "extended_properties"):
        props = dict(job.extended_properties)
        text = props.pop(KEY)
        values = {"extended_properties": props}
        if job._status == "OTH" and text:
            values["_other_status"] = str(text)[:1024]
        TethysJob.objects.filter(pk=job.pk).update(**values)


def move_back(apps, schema_editor):
    TethysJob = apps.get_model("tethys_compute", "TethysJob")
    for job in TethysJob.objects.filter(_other_status__isnull=False).only(
            "pk", "_other_status", "extended_properties"):
        props = dict(job.extended_properties or {})
        props[KEY] = job._other_status
        TethysJob.objects.filter(pk=job.pk).update(extended_properties=props)


class Migration(migrations.Migration):

    dependencies = [
        ('tethys_compute', '0006_run_attempt_and_results_claim'),
    ]

    operations = [
        migrations.AddField(
            model_name='tethysjob',
            name='_other_status',
            field=models.CharField(blank=True, max_length=1024, null=True),
        ),
        migrations.RunPython(move_to_column, move_back),
    ]
