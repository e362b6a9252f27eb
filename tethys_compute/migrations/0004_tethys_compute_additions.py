# tethys_compute's own additions on top of Tethys 4.6's schema: progress, result-processing
# claims, monitor leases and delayed refreshes on jobs (all nullable, so Tethys's own
# inserts keep working), the status history and the scheduler settings tables.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tethys_compute", "0003_cache_job_statuses"),
    ]

    operations = [
        migrations.AddField(
            model_name="tethysjob",
            name="progress",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="tethysjob",
            name="progress_message",
            field=models.CharField(blank=True, max_length=1024, null=True),
        ),
        migrations.AddField(
            model_name="tethysjob",
            name="_results_state",
            field=models.CharField(blank=True, max_length=8, null=True),
        ),
        migrations.AddField(
            model_name="tethysjob",
            name="_results_claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="tethysjob",
            name="refresh_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="tethysjob",
            name="lease_owner",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="tethysjob",
            name="lease_expires",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='JobStatusChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('old_status', models.CharField(blank=True, choices=[('PEN', 'Pending'), ('SUB', 'Submitted'), ('RUN', 'Running'), ('VAR', 'Various'), ('PAS', 'Paused'), ('COM', 'Complete'), ('ERR', 'Error'), ('ABT', 'Aborted'), ('VCP', 'Various-Complete'), ('RES', 'Results-Ready'), ('OTH', 'Other')], default='', max_length=3)),
                ('new_status', models.CharField(choices=[('PEN', 'Pending'), ('SUB', 'Submitted'), ('RUN', 'Running'), ('VAR', 'Various'), ('PAS', 'Paused'), ('COM', 'Complete'), ('ERR', 'Error'), ('ABT', 'Aborted'), ('VCP', 'Various-Complete'), ('RES', 'Results-Ready'), ('OTH', 'Other')], max_length=3)),
                ('other_status', models.CharField(blank=True, default='', max_length=1024)),
                ('time', models.DateTimeField(default=django.utils.timezone.now)),
                ('reason', models.CharField(blank=True, default='', max_length=2048)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='status_history', to='tethys_compute.tethysjob')),
            ],
            options={
                'verbose_name': 'job status change',
                'ordering': ('time', 'id'),
            },
        ),
        migrations.CreateModel(
            name='SchedulerSetting',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('app_package', models.CharField(editable=False, max_length=200)),
                ('name', models.CharField(max_length=200)),
                ('description', models.TextField(blank=True, default='')),
                ('required', models.BooleanField(default=True)),
                ('engine', models.CharField(choices=[('htcondor', 'HTCondor'), ('dask', 'Dask')], default='htcondor', max_length=200)),
                ('scheduler_service', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='settings', to='tethys_compute.scheduler')),
            ],
            options={
                'verbose_name': 'Scheduler Setting',
                'ordering': ('app_package', 'name'),
            },
        ),
        migrations.AddIndex(
            model_name='tethysjob',
            index=models.Index(fields=['label', 'user'], name='tc_job_label_user'),
        ),
        migrations.AddIndex(
            model_name='tethysjob',
            index=models.Index(condition=models.Q(('_status__in', ['PEN', 'SUB', 'RUN', 'VAR', 'PAS', 'OTH'])), fields=['_status'], name='tc_job_active'),
        ),
        migrations.AddIndex(
            model_name='jobstatuschange',
            index=models.Index(fields=['job', 'time'], name='tc_statuschange_job_time'),
        ),
        migrations.AddConstraint(
            model_name='schedulersetting',
            constraint=models.UniqueConstraint(fields=('app_package', 'name'), name='tc_setting_unique'),
        ),
        migrations.AddConstraint(
            model_name='tethysjob',
            constraint=models.CheckConstraint(condition=models.Q(('_status__in', ['PEN', 'SUB', 'RUN', 'VAR', 'PAS', 'COM', 'ERR', 'ABT', 'VCP', 'RES', 'OTH'])), name='tc_job_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='tethysjob',
            constraint=models.CheckConstraint(condition=models.Q(('progress__isnull', True), ('progress__lte', 100), _connector='OR'), name='tc_job_progress_range'),
        ),
    ]
