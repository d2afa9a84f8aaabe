"""What the database itself guarantees about money, whatever code runs against it."""

from django.db import migrations

SQL = """
CREATE SEQUENCE accounts_card_no_seq START 20000001 MAXVALUE 4294967295;

-- Every journal sums to zero and has at least two postings, checked at commit.
CREATE FUNCTION accounts_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE CONSTRAINT TRIGGER accounts_posting_balanced
    AFTER INSERT ON accounts_posting DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION accounts_journal_balanced();

-- The ledger is append-only: mistakes are corrected by new journals, never by edits.
CREATE FUNCTION accounts_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER accounts_posting_immutable BEFORE UPDATE OR DELETE ON accounts_posting
    FOR EACH ROW EXECUTE FUNCTION accounts_ledger_immutable();
CREATE TRIGGER accounts_journal_immutable BEFORE UPDATE OR DELETE ON accounts_journal
    FOR EACH ROW EXECUTE FUNCTION accounts_ledger_immutable();
"""

REVERSE = """
DROP TRIGGER accounts_journal_immutable ON accounts_journal;
DROP TRIGGER accounts_posting_immutable ON accounts_posting;
DROP FUNCTION accounts_ledger_immutable();
DROP TRIGGER accounts_posting_balanced ON accounts_posting;
DROP FUNCTION accounts_journal_balanced();
DROP SEQUENCE accounts_card_no_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
