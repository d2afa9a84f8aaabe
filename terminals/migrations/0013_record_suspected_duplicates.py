"""The suspected duplicate charges (R-DUP-1) indexed apart by time (a partial index: few rows):
the refund list read the whole record table for them, a merchant's list its whole past. Built
concurrently, as the record table is the largest."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('terminals', '0012_record_exceptions'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='record',
            index=models.Index(condition=models.Q(('problems__contains', ['suspected_duplicate'])), fields=['time'],
                               name='record_suspected_duplicates'),
        ),
    ]
