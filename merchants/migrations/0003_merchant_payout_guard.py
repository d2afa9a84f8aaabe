"""A merchant's bank account and payee (M§42) change only through an approved business change form.

merchants.services refuses any other change; this trigger refuses it in the database too, for any
writer (the admin, a shell, a raw UPDATE): the bank fields may change only while the transaction
names an approved change form of this merchant (set_config('campuscard.payout_change', <id>, true),
merchants.services._payout_change_by), and only to what that form says."""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION merchants_payout_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    form_id text := NULLIF(current_setting('campuscard.payout_change', true), '');
    payload jsonb;
BEGIN
    IF form_id IS NOT NULL AND form_id ~ '^[0-9]{1,18}$' THEN
        SELECT a.payload INTO payload FROM merchants_application a
         WHERE a.id = form_id::bigint AND a.merchant_id = NEW.id AND a.kind = 'change' AND a.status = 'approved';
    END IF;
    IF payload IS NULL
       OR NEW.bank_name IS DISTINCT FROM COALESCE(payload->>'bank_name', OLD.bank_name)
       OR NEW.bank_account_name IS DISTINCT FROM COALESCE(payload->>'bank_account_name', OLD.bank_account_name)
       OR NEW.bank_account_no IS DISTINCT FROM COALESCE(payload->>'bank_account_no', OLD.bank_account_no) THEN
        RAISE EXCEPTION 'merchant %: the bank account and payee change only through an approved business change form (M§42)', OLD.code
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER merchants_payout_guard
    BEFORE UPDATE OF bank_name, bank_account_name, bank_account_no ON merchants_merchant
    FOR EACH ROW
    WHEN ((NEW.bank_name, NEW.bank_account_name, NEW.bank_account_no)
          IS DISTINCT FROM (OLD.bank_name, OLD.bank_account_name, OLD.bank_account_no))
    EXECUTE FUNCTION merchants_payout_guard();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS merchants_payout_guard ON merchants_merchant;
DROP FUNCTION IF EXISTS merchants_payout_guard();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("merchants", "0002_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
