"""The daily close stores its trial balance (试算平衡表): per ledger-account kind the opening and
closing balance (debit-positive) and the day's debits and credits, with a CHECK that each row adds
up. Days closed before are filled from the postings alone: a kind's opening is the sum of its
postings on every earlier business day (closed days are immutable, so this is what the close
would have stored); kinds with no balance and no movement get no row, as in the close."""

import django.db.models.deletion
import django.db.models.expressions
from django.db import migrations, models


BACKFILL = """
    WITH daily AS (
        SELECT j.business_day AS day, a.kind,
               COALESCE(SUM(p.amount) FILTER (WHERE p.amount > 0), 0) AS debit,
               COALESCE(-SUM(p.amount) FILTER (WHERE p.amount < 0), 0) AS credit, COUNT(*) AS postings
        FROM accounts_posting p
        JOIN accounts_journal j ON j.id = p.journal_id
        JOIN accounts_ledgeraccount a ON a.id = p.account_id
        WHERE j.business_day <= (SELECT MAX(day) FROM settlement_dayclose)
        GROUP BY 1, 2),
    grid AS (
        SELECT dc.id, dc.day, k.kind FROM settlement_dayclose dc CROSS JOIN (SELECT DISTINCT kind FROM daily) k),
    rows AS (
        SELECT g.id, g.day, g.kind,
               COALESCE((SELECT SUM(e.debit - e.credit) FROM daily e WHERE e.kind = g.kind AND e.day < g.day), 0)
                   AS opening,
               COALESCE(d.debit, 0) AS debit, COALESCE(d.credit, 0) AS credit, COALESCE(d.postings, 0) AS postings
        FROM grid g LEFT JOIN daily d ON d.kind = g.kind AND d.day = g.day)
    INSERT INTO settlement_daytrialbalance (day_close_id, day, kind, opening, debit, credit, closing, postings)
    SELECT id, day, kind, opening, debit, credit, opening + debit - credit, postings FROM rows
    WHERE opening <> 0 OR debit <> 0 OR credit <> 0"""


class Migration(migrations.Migration):

    dependencies = [
        ('settlement', '0004_adjustment_request_to_accounts'),
    ]

    operations = [
        migrations.CreateModel(
            name='DayTrialBalance',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='business day')),
                ('kind', models.CharField(max_length=20, verbose_name='account kind')),
                ('opening', models.BigIntegerField(verbose_name='opening balance, debit-positive (fen)')),
                ('debit', models.BigIntegerField(verbose_name='debits (fen)')),
                ('credit', models.BigIntegerField(verbose_name='credits (fen)')),
                ('closing', models.BigIntegerField(verbose_name='closing balance, debit-positive (fen)')),
                ('postings', models.BigIntegerField(default=0, verbose_name='postings')),
                ('day_close', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='trial_balance', to='settlement.dayclose')),
            ],
            options={
                'verbose_name': 'trial balance row',
                'verbose_name_plural': 'trial balance rows',
                'ordering': ['day', 'kind'],
                'constraints': [models.UniqueConstraint(fields=('day', 'kind'), name='one_trial_balance_row_per_kind'), models.CheckConstraint(condition=models.Q(('closing', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('opening'), '+', models.F('debit')), '-', models.F('credit')))), name='trial_balance_row_adds_up'), models.CheckConstraint(condition=models.Q(('credit__gte', 0), ('debit__gte', 0)), name='trial_balance_sides_positive')],
            },
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=True),
    ]
