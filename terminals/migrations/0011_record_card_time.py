"""A card's records indexed by (card_no, time) instead of card_no alone: the duplicate-charge
guard (R-DUP-1) looks for the card's last charge at a terminal within a few seconds, and on
card_no alone that read every record the card ever had. The new index is built concurrently (the
record table is the largest; intake goes on meanwhile), then the old one is dropped."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('accounts', '0011_journal_balanced_once'),
        ('merchants', '0003_merchant_payout_guard'),
        ('terminals', '0010_int8_sum'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='record',
            index=models.Index(fields=['card_no', 'time'], name='record_card_time'),
        ),
        migrations.AlterField(
            model_name='record',
            name='card_no',
            field=models.BigIntegerField(verbose_name='card number'),
        ),
    ]
