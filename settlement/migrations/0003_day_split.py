"""The daily close's rows carry the same four figures of a day's purchases, each a sum of the
split posting stored in the records (terminals 0003): purchase_amount (消费额, base + surcharge
charged), settled (结算消费额, to the merchants' payables), surcharge_amount (代收搭伙能源费, to the
catering surcharge payable) and held_amount (暂挂金额, to suspense), with a CHECK that the first is
the sum of the other three. The raw `base`/`surcharge` sums go: `surcharge` summed the records'
surcharge field, the water price included (R-SUR-2, the merchant's), and was shown as the
catering surcharge beside a day total that was not.

Days closed before are refilled from their records as the close now computes them (a record
belongs to its journal's business day). Statements are left as they are."""

import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models


_GROUPS = """
    SELECT j.business_day AS day, {keys}, SUM(r.base_amount + r.surcharge) AS purchase_amount,
           SUM(r.merchant_amount) AS settled, SUM(r.surcharge_amount) AS surcharge_amount,
           SUM(r.held_amount) AS held_amount
    FROM terminals_record r JOIN accounts_journal j ON j.id = r.journal_id
    WHERE r.kind = 1 AND r.status IN ('posted', 'held') AND j.business_day IN (SELECT day FROM settlement_dayclose)
    GROUP BY 1{group}"""


def _refill(table: str, keys: list[str], match: str) -> str:
    cols = ", ".join(f"r.{k} AS {k}" for k in keys)
    group = "".join(f", {i + 2}" for i in range(len(keys)))
    return f"""UPDATE {table} t SET purchase_amount = g.purchase_amount, settled = g.settled,
                   surcharge_amount = g.surcharge_amount, held_amount = g.held_amount
               FROM ({_GROUPS.format(keys=cols, group=group)}) g WHERE t.day = g.day {match}"""


BACKFILL = ";\n".join([
    _refill("settlement_daymerchanttotal", ["merchant_id"], "AND t.merchant_id = g.merchant_id"),
    _refill("settlement_dayterminaltotal", ["terminal_id", "merchant_id"],
            "AND t.terminal_id = g.terminal_id AND t.merchant_id IS NOT DISTINCT FROM g.merchant_id"),
    _refill("settlement_daycardtypetotal", ["card_type"], "AND t.card_type = g.card_type"),
    f"""UPDATE settlement_dayclose t SET purchase_amount = g.purchase_amount, settled = g.settled,
            surcharge_amount = g.surcharge_amount, held_amount = g.held_amount
        FROM ({_GROUPS.format(keys="0 AS nothing", group="")}) g WHERE t.day = g.day""",
])


class Migration(migrations.Migration):

    dependencies = [
        ('merchants', '0002_initial'),
        ('settlement', '0002_dayterminal_settled'),
        ('terminals', '0003_record_split'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveField(
            model_name='daycardtypetotal',
            name='base',
        ),
        migrations.RemoveField(
            model_name='daycardtypetotal',
            name='surcharge',
        ),
        migrations.RemoveField(
            model_name='daymerchanttotal',
            name='base',
        ),
        migrations.RemoveField(
            model_name='daymerchanttotal',
            name='surcharge',
        ),
        migrations.AddField(
            model_name='daycardtypetotal',
            name='held_amount',
            field=models.BigIntegerField(default=0, verbose_name='held out (fen)'),
        ),
        migrations.AddField(
            model_name='daycardtypetotal',
            name='purchase_amount',
            field=models.BigIntegerField(default=0, verbose_name='purchases (fen)'),
        ),
        migrations.AddField(
            model_name='daycardtypetotal',
            name='settled',
            field=models.BigIntegerField(default=0, verbose_name='consumption settled (fen)'),
        ),
        migrations.AddField(
            model_name='daycardtypetotal',
            name='surcharge_amount',
            field=models.BigIntegerField(default=0, verbose_name='catering surcharge collected (fen)'),
        ),
        migrations.AddField(
            model_name='dayclose',
            name='held_amount',
            field=models.BigIntegerField(default=0, verbose_name='held out (fen)'),
        ),
        migrations.AddField(
            model_name='dayclose',
            name='settled',
            field=models.BigIntegerField(default=0, verbose_name='consumption settled (fen)'),
        ),
        migrations.AddField(
            model_name='daymerchanttotal',
            name='purchase_amount',
            field=models.BigIntegerField(default=0, verbose_name='purchases (fen)'),
        ),
        migrations.AddField(
            model_name='daymerchanttotal',
            name='surcharge_amount',
            field=models.BigIntegerField(default=0, verbose_name='catering surcharge collected (fen)'),
        ),
        migrations.AddField(
            model_name='dayterminaltotal',
            name='held_amount',
            field=models.BigIntegerField(default=0, verbose_name='held out (fen)'),
        ),
        migrations.AddField(
            model_name='dayterminaltotal',
            name='surcharge_amount',
            field=models.BigIntegerField(default=0, verbose_name='catering surcharge collected (fen)'),
        ),
        migrations.AlterField(
            model_name='closeexception',
            name='kind',
            field=models.CharField(choices=[('trial_balance', 'Debits and credits differ'), ('purse', 'Purse does not rebuild from yesterday + movements'), ('merchant', 'Merchant payable differs from its records'), ('account', 'Surcharge or suspense account differs from its records'), ('operator', 'Operator cash differs from deposits'), ('card_flag', 'Card-vs-account disagreement'), ('record', 'Record not posted'), ('terminal', 'Terminal silent or block list late')], max_length=14, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='dayclose',
            name='surcharge_amount',
            field=models.BigIntegerField(default=0, verbose_name='catering surcharge collected (fen)'),
        ),
        migrations.AlterField(
            model_name='daymerchanttotal',
            name='settled',
            field=models.BigIntegerField(default=0, verbose_name='consumption settled (fen)'),
        ),
        migrations.AlterField(
            model_name='dayterminaltotal',
            name='settled',
            field=models.BigIntegerField(default=0, verbose_name='consumption settled (fen)'),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name='daycardtypetotal',
            constraint=models.CheckConstraint(condition=models.Q(('purchase_amount', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('settled'), '+', models.F('surcharge_amount')), '+', models.F('held_amount')))), name='daycardtype_split_adds_up'),
        ),
        migrations.AddConstraint(
            model_name='dayclose',
            constraint=models.CheckConstraint(condition=models.Q(('purchase_amount', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('settled'), '+', models.F('surcharge_amount')), '+', models.F('held_amount')))), name='dayclose_split_adds_up'),
        ),
        migrations.AddConstraint(
            model_name='daymerchanttotal',
            constraint=models.CheckConstraint(condition=models.Q(('purchase_amount', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('settled'), '+', models.F('surcharge_amount')), '+', models.F('held_amount')))), name='daymerchant_split_adds_up'),
        ),
        migrations.AddConstraint(
            model_name='dayterminaltotal',
            constraint=models.CheckConstraint(condition=models.Q(('purchase_amount', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('settled'), '+', models.F('surcharge_amount')), '+', models.F('held_amount')))), name='dayterminal_split_adds_up'),
        ),
    ]
