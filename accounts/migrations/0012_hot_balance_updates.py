"""Ledger accounts and purses keep half of each page free (fillfactor 50), so that a balance or
card-state update writes the new row version on the same page and leaves the indexes alone (a HOT
update). A lunch queue updates one purse and one purse account per record; on full pages each
update also inserted into every index of the table (five on ledger accounts, three on purses):
bench/ingest/profile.py --cards 200, one card per record, 17-23 µs a record for the account
update and 11-16 for the purse's at fillfactor 100, 3.3-3.8 and 4-5 at 50 (every update HOT), and
the WAL 2,089 → 1,336 bytes a record. Both tables are small (a row per card), so the rewrite
that lays the existing rows out at the new fill (VACUUM FULL) takes a moment's lock."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False  # VACUUM cannot run in a transaction

    dependencies = [("accounts", "0011_journal_balanced_once")]

    operations = [
        migrations.RunSQL("ALTER TABLE accounts_ledgeraccount SET (fillfactor = 50)",
                          "ALTER TABLE accounts_ledgeraccount RESET (fillfactor)"),
        migrations.RunSQL("ALTER TABLE accounts_purse SET (fillfactor = 50)",
                          "ALTER TABLE accounts_purse RESET (fillfactor)"),
        migrations.RunSQL("VACUUM FULL accounts_ledgeraccount", migrations.RunSQL.noop),
        migrations.RunSQL("VACUUM FULL accounts_purse", migrations.RunSQL.noop),
    ]
