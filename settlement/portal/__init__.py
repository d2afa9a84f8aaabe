"""The merchant portal (商户平台): a merchant user sees its own merchant's revenue, detail records
(current and previous month only, U§10, R-MER-4), settlements and suspected duplicates; nothing
of any other merchant, whatever URL or id it tries."""
