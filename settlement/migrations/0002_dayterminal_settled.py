"""Terminal day totals gain the merchant's share of posted purchases and the held-out count, so
the merchant portal reads closed days' revenue by terminal from the close (settlement.revenue).

Days closed before this migration are filled from their records the way day_close fills them:
a record's business_day is its journal's (terminals/posting.py), a held record is not settled
(R-TERM-2), a dining merchant's share is the base price (R-SUR-1, merchant kind 1)."""

from django.db import migrations, models

BACKFILL = """
UPDATE settlement_dayterminaltotal t SET held_count = g.held_count, settled = g.settled
FROM (SELECT r.business_day AS day, r.terminal_id, r.merchant_id,
             COUNT(*) FILTER (WHERE r.status = 'held') AS held_count,
             COALESCE(SUM(CASE WHEN m.kind = 1 THEN r.base_amount ELSE r.base_amount + r.surcharge END)
                      FILTER (WHERE r.status = 'posted'), 0) AS settled
      FROM terminals_record r LEFT JOIN merchants_merchant m ON m.id = r.merchant_id
      WHERE r.kind = 1 AND r.status IN ('posted', 'held') AND r.business_day IN (SELECT day FROM settlement_dayclose)
      GROUP BY 1, 2, 3) g
WHERE t.day = g.day AND t.terminal_id = g.terminal_id AND t.merchant_id IS NOT DISTINCT FROM g.merchant_id
"""


class Migration(migrations.Migration):

    dependencies = [
        ('merchants', '0002_initial'),
        ('settlement', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='dayterminaltotal',
            name='held_count',
            field=models.BigIntegerField(default=0, verbose_name='records held out'),
        ),
        migrations.AddField(
            model_name='dayterminaltotal',
            name='settled',
            field=models.BigIntegerField(default=0, verbose_name='settleable consumption (fen)'),
        ),
        migrations.AddIndex(
            model_name='dayterminaltotal',
            index=models.Index(fields=['merchant', 'day'], name='dayterminal_merchant_day'),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
