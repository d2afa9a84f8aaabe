# Built CONCURRENTLY: on a live records table a plain CREATE INDEX would stop the gateway's
# inserts and posting for the minutes it takes over millions of rows.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('accounts', '0005_unitagent'),
        ('merchants', '0002_initial'),
        ('terminals', '0001_initial'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='record',
            index=models.Index(condition=models.Q(('kind', 1), ('status', 'posted')), fields=['merchant', 'business_day'],
                               include=('terminal', 'base_amount', 'surcharge'), name='record_merchant_revenue'),
        ),
    ]
