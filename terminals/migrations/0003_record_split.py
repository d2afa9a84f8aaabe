"""Each record stores the split posting gave it: merchant_amount (to the merchant's payable),
surcharge_amount (to the catering surcharge payable) and held_amount (to suspense), see Record.

Records posted before this migration are filled in exactly as posting booked them. Held records
(R-TERM-2) went wholly to suspense. For posted purchases the journal tells: posting wrote one
aggregated credit per merchant payable per journal, so a merchant's records in a journal were
booked at the base price (R-SUR-1, their surcharge to the catering account) exactly when that
credit equals their base amounts; otherwise at base + surcharge (R-SUR-2). A merchant whose kind
changed since is therefore filled as it was booked. Only if the journal says neither (it cannot
happen for a balanced ledger) is the merchant's kind used. This is the last place a merchant
kind or a rate is applied to derive a split: from here on readers sum the stored columns.

Not atomic: the revenue index is swapped CONCURRENTLY as in 0002 (a live records table), and
the CHECK is added NOT VALID then validated, so it takes no long exclusive lock. Each statement
commits on its own; every step can be run again.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.models import F, Q

HELD = """
UPDATE terminals_record SET held_amount = base_amount + surcharge, merchant_amount = 0, surcharge_amount = 0
WHERE kind = 1 AND status = 'held'
"""

POSTED = """
WITH booked AS (
    SELECT r.journal_id, r.merchant_id, SUM(r.base_amount) AS base, SUM(r.surcharge) AS surcharge
    FROM terminals_record r
    WHERE r.kind = 1 AND r.status = 'posted' AND r.journal_id IS NOT NULL
    GROUP BY r.journal_id, r.merchant_id
), split AS (
    SELECT b.journal_id, b.merchant_id,
           CASE WHEN b.surcharge = 0 THEN FALSE
                WHEN -p.amount = b.base THEN TRUE
                WHEN -p.amount = b.base + b.surcharge THEN FALSE
                ELSE m.kind = 1 END AS dining
    FROM booked b
    JOIN merchants_merchant m ON m.id = b.merchant_id
    LEFT JOIN accounts_posting p ON p.journal_id = b.journal_id AND p.account_id = m.payable_account_id
)
UPDATE terminals_record r
SET merchant_amount = CASE WHEN s.dining THEN r.base_amount ELSE r.base_amount + r.surcharge END,
    surcharge_amount = CASE WHEN s.dining THEN r.surcharge ELSE 0 END,
    held_amount = 0
FROM split s
WHERE r.kind = 1 AND r.status = 'posted' AND r.journal_id = s.journal_id AND r.merchant_id = s.merchant_id
"""

# Posted without a journal: a run whose amounts were all zero (nothing to book).
POSTED_UNBOOKED = """
UPDATE terminals_record SET merchant_amount = base_amount + surcharge, surcharge_amount = 0, held_amount = 0
WHERE kind = 1 AND status = 'posted' AND journal_id IS NULL
"""

SPLIT_CHECK = Q(kind=1, status="posted", held_amount=0, merchant_amount__gte=0, surcharge_amount__gte=0,
                surcharge_amount__lte=F("surcharge"),
                merchant_amount=F("base_amount") + F("surcharge") - F("surcharge_amount")) | Q(
    kind=1, status="held", merchant_amount=0, surcharge_amount=0, held_amount=F("base_amount") + F("surcharge")) | (
    ~Q(kind=1, status__in=["posted", "held"]) & Q(merchant_amount=0, surcharge_amount=0, held_amount=0))

# The same condition as SQL (what Django generates for SPLIT_CHECK), added NOT VALID then validated.
ADD_CHECK = """
ALTER TABLE terminals_record DROP CONSTRAINT IF EXISTS record_split_adds_up;
ALTER TABLE terminals_record ADD CONSTRAINT record_split_adds_up CHECK (
    (held_amount = 0 AND kind = 1 AND merchant_amount = ((base_amount + surcharge) - surcharge_amount)
     AND merchant_amount >= 0 AND status = 'posted' AND surcharge_amount >= 0 AND surcharge_amount <= (surcharge))
    OR (held_amount = (base_amount + surcharge) AND kind = 1 AND merchant_amount = 0 AND status = 'held'
        AND surcharge_amount = 0)
    OR (NOT (kind = 1 AND status IN ('posted', 'held')) AND held_amount = 0 AND merchant_amount = 0
        AND surcharge_amount = 0)) NOT VALID;
ALTER TABLE terminals_record VALIDATE CONSTRAINT record_split_adds_up;
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('accounts', '0005_unitagent'),
        ('merchants', '0002_initial'),
        ('terminals', '0002_record_merchant_revenue'),
    ]

    operations = [
        migrations.AddField(
            model_name='record',
            name='merchant_amount',
            field=models.BigIntegerField(db_default=0, verbose_name='consumption settled (fen)'),
        ),
        migrations.AddField(
            model_name='record',
            name='surcharge_amount',
            field=models.BigIntegerField(db_default=0, verbose_name='catering surcharge collected (fen)'),
        ),
        migrations.AddField(
            model_name='record',
            name='held_amount',
            field=models.BigIntegerField(db_default=0, verbose_name='held out (fen)'),
        ),
        migrations.RunSQL(HELD, migrations.RunSQL.noop),
        migrations.RunSQL(POSTED, migrations.RunSQL.noop),
        migrations.RunSQL(POSTED_UNBOOKED, migrations.RunSQL.noop),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(
                ADD_CHECK, "ALTER TABLE terminals_record DROP CONSTRAINT IF EXISTS record_split_adds_up")],
            state_operations=[migrations.AddConstraint(
                model_name='record', constraint=models.CheckConstraint(condition=SPLIT_CHECK, name='record_split_adds_up'))],
        ),
        RemoveIndexConcurrently(model_name='record', name='record_merchant_revenue'),
        AddIndexConcurrently(
            model_name='record',
            index=models.Index(condition=models.Q(('kind', 1), ('status', 'posted')), fields=['merchant', 'business_day'],
                               include=('terminal', 'merchant_amount'), name='record_merchant_revenue'),
        ),
    ]
