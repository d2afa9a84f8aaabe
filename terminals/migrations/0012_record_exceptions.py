"""The records posting left as exceptions, indexed apart (a partial index: few rows): the retry
every 5 minutes, the daily close, the dashboard and the desk each read the whole record table for
them. Built concurrently, as the record table is the largest."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('terminals', '0011_record_card_time'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='record',
            index=models.Index(condition=models.Q(('status', 'exception')), fields=['id'], name='record_exceptions'),
        ),
    ]
