"""The deferred balance check runs once per journal, not once per posting.

accounts_posting_balanced fires for every posting row at commit and sums the whole journal: a
journal of n postings cost n × n row reads (a posting run or a group commit of 5,000 purses read
25 million rows at commit). Now the first firing for a journal sums it and remembers, in a
transaction-local setting, the journal and the highest posting id it saw; the later firings for
the same journal skip, unless their posting is newer than that sum (inserted after a
SET CONSTRAINTS … IMMEDIATE check), which sums again. Deferred firings come in insertion order,
so a journal's postings (one INSERT) fire one after another. Same refusals as before."""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION accounts_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE total bigint; n int; top bigint; seen text;
BEGIN
    seen := current_setting('accounts.balanced_journal', true);
    IF seen IS NOT NULL AND seen <> ''
       AND split_part(seen, ':', 1)::bigint = NEW.journal_id AND NEW.id <= split_part(seen, ':', 2)::bigint THEN
        RETURN NULL;  -- this journal was summed, with this posting in it
    END IF;
    SELECT COALESCE(SUM(amount), 0), COUNT(*), MAX(id) INTO total, n, top
      FROM accounts_posting WHERE journal_id = NEW.journal_id;
    IF total <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'journal % is unbalanced: % fen over % postings', NEW.journal_id, total, n
            USING ERRCODE = 'check_violation';
    END IF;
    PERFORM set_config('accounts.balanced_journal', NEW.journal_id || ':' || top, true);
    RETURN NULL;
END $$;
"""

BACKWARD = r"""
CREATE OR REPLACE FUNCTION accounts_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE total bigint; n int;
BEGIN
    SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, n
      FROM accounts_posting WHERE journal_id = NEW.journal_id;
    IF total <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'journal % is unbalanced: % fen over % postings', NEW.journal_id, total, n
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0010_kinds_money_in_and_subsidies")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
