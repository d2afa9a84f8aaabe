"""A batch keeps its whole frame (up to 20 KB) as evidence; pglz compressing it cost 0.5 µs per
record at intake, lz4 a fraction of that (bench/ingest/profile.py). A server built without lz4
keeps pglz."""

from django.db import migrations

SQL = """
DO $$ BEGIN
    ALTER TABLE terminals_batch ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: terminals_batch.raw stays pglz';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("terminals", "0005_record_integrity_costs")]
    operations = [migrations.RunSQL(SQL, "ALTER TABLE terminals_batch ALTER COLUMN raw SET COMPRESSION default")]
