"""int8_sum(bigint): a sum that stays bigint. SUM(bigint) returns numeric, and the intake's
posting statement takes a running sum per purse in a window, so a numeric was built for every
record (~5 % of that statement, bench/ingest/ab.py). An overflow raises, as int8pl does; the
intake's sums are of 32-bit wire amounts over at most a group of records, far from the bound."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('terminals', '0009_record_one_merchant_index'),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE AGGREGATE int8_sum(bigint) (SFUNC = int8pl, STYPE = bigint)",
            "DROP AGGREGATE int8_sum(bigint)",
        ),
    ]
