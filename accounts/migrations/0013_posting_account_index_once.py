"""The postings' index on account_id alone goes: (account_id, journal_id) leads with it and serves
every read by account, and each posting paid an insert into both (a lunch queue writes a posting
per record: one per purse account). Dropped concurrently, as postings are the ledger's largest table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("accounts", "0012_hot_balance_updates")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="posting", name="account",
                    field=models.ForeignKey(db_index=False, on_delete=models.deletion.PROTECT, related_name="postings",
                                            to="accounts.ledgeraccount", verbose_name="ledger account"),
                ),
            ],
            database_operations=[
                migrations.RunSQL("DROP INDEX CONCURRENTLY IF EXISTS accounts_posting_account_id_727ca466",
                                  "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_posting_account_id_727ca466 "
                                  "ON accounts_posting (account_id)"),
            ],
        ),
    ]
