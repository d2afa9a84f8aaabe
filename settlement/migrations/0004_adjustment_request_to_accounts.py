"""Adjustment requests (R-ADJ-1) move to accounts, where the holder page files them: one
request/approve mechanism for every adjustment. Rows keep their ids (the audit log names them)."""

from django.db import migrations

COLUMNS = ("id, holder_id, kind, amount, reason, bank_ref, status, requested_by_id, requested_at, decided_by_id, "
           "decided_at, decision_note, journal_id")


def copy_to_accounts(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        # The old service refused a decision by the asker; the WHERE only keeps the copy inside
        # accounts' four-eyes constraint should the table hold such a row all the same.
        cur.execute(f"""INSERT INTO accounts_adjustmentrequest ({COLUMNS})
                        SELECT {COLUMNS} FROM settlement_adjustmentrequest
                        WHERE decided_by_id IS NULL OR decided_by_id <> requested_by_id""")
        cur.execute("""SELECT setval(pg_get_serial_sequence('accounts_adjustmentrequest', 'id'),
                                     COALESCE((SELECT max(id) FROM accounts_adjustmentrequest), 0) + 1, false)""")


class Migration(migrations.Migration):

    dependencies = [
        ("settlement", "0003_day_split"),
        ("accounts", "0006_adjustment_request"),
    ]

    operations = [
        migrations.RunPython(copy_to_accounts, migrations.RunPython.noop),
        migrations.DeleteModel(name="AdjustmentRequest"),
    ]
