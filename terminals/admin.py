"""Terminal registry in the admin: registration shows the key once; keys can be rotated."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyMixin, YuanFieldsMixin
from accounts.errors import BusinessError
from accounts.formatting import yuan
from accounts.selectors import blocklist_version

from . import labels, services
from .models import (
    Assignment,
    Batch,
    CardFlag,
    LostRange,
    OfflineAuthorisation,
    PostingSettings,
    Record,
    RecordConflict,
    SurchargeRate,
    Terminal,
)


class AssignmentInline(admin.TabularInline):
    model = Assignment
    extra = 0
    can_delete = False
    readonly_fields = ("merchant", "valid_from", "valid_to")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "merchant", "last_seen_at", "ack_upto", "blocklist_version",
                    "blocklist_lag")
    list_filter = ("kind", "status", "owner")
    search_fields = ("id", "asset_no", "location")
    readonly_fields = ("ack_upto", "last_seq", "unsent", "firmware_version", "blocklist_version",
                       "blocklist_version_at", "params_version", "last_seen_at", "key_rotated_at", "created_at")
    inlines = [AssignmentInline]
    actions = ["rotate_keys"]

    @admin.display(description=_("merchant"))
    def merchant(self, obj):
        a = obj.assignments.filter(valid_to__isnull=True).select_related("merchant").first()
        return a.merchant if a else "—"

    @admin.display(description=_("block-list lag"))
    def blocklist_lag(self, obj):
        """How far behind the host's block list the terminal says it is, and since when."""
        behind = self._current - obj.blocklist_version
        if behind <= 0:
            return "✓"
        since = obj.blocklist_version_at and timezone.localtime(obj.blocklist_version_at).strftime("%m-%d %H:%M")
        return format_html('<span style="color:#b00">{} ({})</span>', behind, since or "—")

    def changelist_view(self, request, extra_context=None):
        self._current = blocklist_version()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False  # registration: `manage.py terminal_add` or the merchant's page

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Rotate keys (shown once)"), permissions=["change"])
    def rotate_keys(self, request, queryset):
        for terminal in queryset:
            try:
                key = services.terminal_key_rotate(actor=request.user, terminal=terminal)
            except BusinessError as exc:
                messages.error(request, "; ".join(exc.messages))
                continue
            messages.warning(request, format_html("{} {}: <code>{}</code>", terminal, _("new key"), key.hex()))


@admin.register(SurchargeRate)
class SurchargeRateAdmin(admin.ModelAdmin):
    list_display = ("effective_from", "board_fee_bp", "energy_fee_bp", "water_multiplier_pct")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Rows written by intake, posting and services only."""


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 2}))


class AdjustForm(ReasonForm):
    # A record carries amounts as 32-bit unsigned fields (POS-PROTOCOL); more overflowed bigint (500).
    base_amount = forms.IntegerField(label=_("base amount (fen)"), min_value=0, max_value=2**32 - 1, required=False)
    surcharge = forms.IntegerField(label=_("surcharge (fen)"), min_value=0, max_value=2**32 - 1, required=False)


def _with_reason(request, queryset, *, action, title, form_class, apply):
    """An admin action that asks for a reason first, then calls a service for each object."""
    form = form_class(request.POST if request.POST.get("confirm") else None)
    if form.is_bound and form.is_valid():
        done = 0
        for obj in queryset:
            try:
                apply(obj, **form.cleaned_data)
                done += 1
            except BusinessError as exc:
                messages.error(request, f"{obj}: " + "; ".join(exc.messages))
        if done:
            messages.success(request, _("%(n)d done.") % {"n": done})
        return None
    return TemplateResponse(request, "admin/terminals/reason_form.html", {
        **admin.site.each_context(request), "title": title, "form": form, "objects": list(queryset),
        "selected": [o.pk for o in queryset], "action": action,
    })


class ProblemFilter(admin.SimpleListFilter):
    """Exceptions by what held them, e.g. unknown_operator: a cashier's top-ups to post once the
    cash account exists."""

    title = _("problem")
    parameter_name = "problem"
    PROBLEMS = tuple(p for p in labels.RECORD_PROBLEMS if p != "unknown")

    def lookups(self, request, model_admin):
        return [(p, labels.RECORD_PROBLEMS[p]) for p in self.PROBLEMS]

    def queryset(self, request, queryset):
        if self.value() in self.PROBLEMS:
            return queryset.filter(problems__contains=[self.value()])
        return queryset


@admin.register(Record)
class RecordAdmin(YuanFieldsMixin, ReadOnlyAdmin):
    # In yuan, with the merchant and the terminal's place, the kind and problems in words.
    list_display = ("time", "terminal_display", "merchant", "term_seq", "card_no", "kind_label", "base_amount",
                    "surcharge", "total_yuan", "status", "problems_label")
    list_select_related = ("terminal", "merchant")
    list_filter = ("status", "kind", ProblemFilter)
    search_fields = ("=card_no", "=term_seq")
    # Money in yuan, codes by their labels (terminals.labels); the raw frame is not for people.
    yuan_fields = ("base_amount", "surcharge", "balance_before", "balance_after", "merchant_amount",
                   "surcharge_amount", "held_amount")
    exclude = ("raw", "kind", "card_type", "flags", "problems")
    readonly_fields = ("terminal", "term_seq", "batch", "card_no", "card_type_label", "kind_label", "card_counter",
                       "flags_label", "base_amount", "surcharge", "balance_before", "balance_after", "time",
                       "operator_no", "status", "problems_label", "merchant", "journal", "posted_at", "business_day",
                       "merchant_amount", "surcharge_amount", "held_amount")
    actions = ["post_records", "adjust_and_post", "reject_records"]

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj):
        return labels.record_kind_label(obj.kind)

    @admin.display(description=_("card type"), ordering="card_type")
    def card_type_label(self, obj):
        return labels.card_type_label(obj.card_type)

    @admin.display(description=_("flags"))
    def flags_label(self, obj):
        return labels.record_flags_text(obj.flags)

    @admin.display(description=_("problems"))
    def problems_label(self, obj):
        return labels.record_problems_text(obj.problems) or "—"

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("terminals.change_record")  # actions only

    @admin.display(description=_("terminal"), ordering="terminal_id")
    def terminal_display(self, record):
        return f"T{record.terminal_id} {record.terminal.location}".strip()

    @admin.display(description=_("total (yuan)"))
    def total_yuan(self, record):
        return yuan(record.base_amount + record.surcharge)

    @admin.action(description=_("Post the selected exceptions"), permissions=["change"])
    def post_records(self, request, queryset):
        return _with_reason(request, queryset, action="post_records", title=_("Post exceptions"),
                            form_class=ReasonForm, apply=lambda r, reason: services.record_exception_post(
                                actor=request.user, record_id=r.pk, reason=reason))

    @admin.action(description=_("Adjust the amounts and post"), permissions=["change"])
    def adjust_and_post(self, request, queryset):
        return _with_reason(request, queryset, action="adjust_and_post", title=_("Adjust and post"),
                            form_class=AdjustForm, apply=lambda r, reason, base_amount, surcharge:
                            services.record_exception_post(actor=request.user, record_id=r.pk, reason=reason,
                                                           base_amount=base_amount, surcharge=surcharge))

    @admin.action(description=_("Reject the selected exceptions"), permissions=["change"])
    def reject_records(self, request, queryset):
        return _with_reason(request, queryset, action="reject_records", title=_("Reject exceptions"),
                            form_class=ReasonForm, apply=lambda r, reason: services.record_reject(
                                actor=request.user, record_id=r.pk, reason=reason))


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "terminal", "batch_no", "count", "stored", "duplicates", "exceptions", "received_at",
                    "posted_at")
    exclude = ("raw",)


@admin.register(CardFlag)
class CardFlagAdmin(ReadOnlyAdmin):
    list_display = ("card_no", "kind", "expected_display", "actual_display", "at", "resolved_at", "resolution")
    exclude = ("expected", "actual")
    readonly_fields = ("expected_display", "actual_display")

    @staticmethod
    def _value(flag, value):
        """A counter gap compares card counters; the others balances, in yuan."""
        return str(value) if flag.kind == CardFlag.Kind.COUNTER_GAP else yuan(value) + " " + str(_("yuan"))

    @admin.display(description=_("host expected"))
    def expected_display(self, obj):
        return self._value(obj, obj.expected)

    @admin.display(description=_("card said"))
    def actual_display(self, obj):
        return self._value(obj, obj.actual)
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("=card_no",)
    actions = ["resolve"]

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("terminals.change_cardflag")

    @admin.action(description=_("Resolve the selected flags"), permissions=["change"])
    def resolve(self, request, queryset):
        return _with_reason(request, queryset, action="resolve", title=_("Resolve card-vs-account flags"),
                            form_class=ReasonForm, apply=lambda f, reason: services.cardflag_resolve(
                                actor=request.user, flag_id=f.pk, resolution=reason))


@admin.register(LostRange)
class LostRangeAdmin(ReadOnlyAdmin):
    list_display = ("terminal", "from_seq", "to_seq", "merchant", "at", "resolved_at")
    actions = ["resolve"]

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("terminals.change_lostrange")

    @admin.action(description=_("Mark as dealt with"), permissions=["change"])
    def resolve(self, request, queryset):
        return _with_reason(request, queryset, action="resolve", title=_("Records declared lost"),
                            form_class=ReasonForm, apply=lambda lost, reason: services.lostrange_resolve(
                                actor=request.user, lost_id=lost.pk, reason=reason))


admin.site.register(OfflineAuthorisation, ReadOnlyAdmin)
admin.site.register(RecordConflict, ReadOnlyAdmin)
admin.site.register(PostingSettings)
