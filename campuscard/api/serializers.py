from __future__ import annotations

from rest_framework import serializers

from accounts.formatting import yuan
from accounts.parsing import DATE_MAX, DATE_MIN, date_in_range


class CardSerializer(serializers.Serializer):
    card_no = serializers.IntegerField()
    card_type = serializers.IntegerField(help_text="1 formal, 2 ordinary, 3 consumption (R-CARD-1)")
    card_type_name = serializers.CharField(source="get_card_type_display")
    status = serializers.CharField(help_text="active, lost, frozen, expired, closed, replaced")
    usable = serializers.SerializerMethodField(help_text="Only an active card pays (R-TERM-3)")
    valid_until = serializers.DateField()
    functions = serializers.ListField(child=serializers.CharField(), help_text="Switched on by subsystems (R-SUB-1)")
    holder_number = serializers.SerializerMethodField(help_text="Null for an anonymous consumption card")
    status_changed_at = serializers.DateTimeField()

    def get_usable(self, card) -> bool:
        return card.status == "active"

    def get_holder_number(self, card) -> str | None:
        return card.holder.number if card.holder_id else None


class HolderCardsSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    cards = CardSerializer(many=True)


class RevenueRowSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="The business day, or the first day of the month")
    count = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    amount_yuan = serializers.SerializerMethodField()

    def get_amount_yuan(self, row) -> str:
        return yuan(row["amount_fen"])


class RevenueSerializer(serializers.Serializer):
    merchant = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    by = serializers.ChoiceField(choices=["day", "month"])
    total_fen = serializers.IntegerField()
    rows = RevenueRowSerializer(many=True)


class RevenueQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="Business day (Asia/Shanghai); default 30 days ago")
    end = serializers.DateField(required=False, help_text="Inclusive; default today")
    by = serializers.ChoiceField(choices=["day", "month"], default="day")

    def _in_range(self, value):
        # Year 9999 parses, then overflows when the revenue query adds a day (a 500 before).
        if value is not None and not date_in_range(value):
            raise serializers.ValidationError(f"a date between {DATE_MIN} and {DATE_MAX}")
        return value

    validate_start = validate_end = _in_range

    def validate(self, data):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise serializers.ValidationError("start is after end")
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            raise serializers.ValidationError("at most 366 days at once")
        return data


class StatementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    status = serializers.CharField(help_text="open, applied, checked, approved, paid (R-SET-3)")
    purchases = serializers.IntegerField()
    consumption_fen = serializers.IntegerField(source="consumption", help_text="Consumption settled")
    refunds_fen = serializers.IntegerField(source="refunds", help_text="Merchant refunds (R-DUP-1)")
    corrections_fen = serializers.IntegerField(source="corrections", help_text="Correction forms (U§9)")
    held_count = serializers.IntegerField()
    held_fen = serializers.IntegerField(source="held_amount", help_text="Unauthorised offline records, not settled")
    fee_fen = serializers.IntegerField(source="fee", help_text="Management fee, 0.5% half-up (R-SET-2)")
    net_fen = serializers.IntegerField(source="net")
    net_yuan = serializers.SerializerMethodField()
    applied_at = serializers.DateTimeField(allow_null=True)
    applied_late = serializers.BooleanField()
    paid_at = serializers.DateTimeField(allow_null=True)

    def get_net_yuan(self, st) -> str:
        return yuan(st.net)


class SettlementsSerializer(serializers.Serializer):
    merchant = serializers.CharField()
    statements = StatementSerializer(many=True)


class SettlementsQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "applied", "checked", "approved", "paid"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=120, default=24)


class FunctionSwitchSerializer(serializers.Serializer):
    function = serializers.RegexField(r"^[a-z][a-z0-9_-]{0,31}$", help_text="The subsystem's function, e.g. library")
    enabled = serializers.BooleanField(help_text="true switches it on, false off")
    reason = serializers.CharField(max_length=150, help_text="Recorded in the audit log with the client's name")


class FunctionSwitchResultSerializer(serializers.Serializer):
    card_no = serializers.IntegerField()
    functions = serializers.ListField(child=serializers.CharField())
    changed = serializers.BooleanField(help_text="false when the function already was as asked")


class IntakeRequestSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=200)),
        min_length=1, max_length=5000,
        help_text="One object per person: number, name, id_number, category, entry (postgraduates: spring or "
                  "autumn), unit (code or name), start_date, end_date (expected graduation) or graduation_year, "
                  "phone, bank_card_no. Dates YYYY-MM-DD.")
    apply = serializers.BooleanField(default=False, help_text="false: check only (nothing is written); true: check, "
                                                                "then write every row without errors")


class IntakeRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="1 for the first object of rows")
    number = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField())


class IntakeResultSerializer(serializers.Serializer):
    intake = serializers.IntegerField(help_text="The intake's id, as the desk shows it")
    status = serializers.CharField(help_text="preview (checked only), done (written)")
    rows = serializers.IntegerField()
    create = serializers.IntegerField(help_text="Rows that are (or would be) new holders")
    update = serializers.IntegerField(help_text="Rows that change (or would change) a holder")
    same = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = IntakeRowErrorSerializer(many=True)
