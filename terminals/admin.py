"""Terminal registry in the admin: registration shows the key once; keys can be rotated."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.errors import BusinessError
from accounts.selectors import blocklist_version

from . import services
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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    list_display = ("terminal", "term_seq", "card_no", "kind", "base_amount", "surcharge", "time", "status",
                    "problems")
    list_filter = ("status", "kind")
    search_fields = ("=card_no", "=term_seq")
    exclude = ("raw",)


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "terminal", "batch_no", "count", "stored", "duplicates", "exceptions", "received_at",
                    "posted_at")
    exclude = ("raw",)


@admin.register(CardFlag)
class CardFlagAdmin(ReadOnlyAdmin):
    list_display = ("card_no", "kind", "expected", "actual", "at", "resolved_at")
    list_filter = ("kind",)
    search_fields = ("=card_no",)


admin.site.register(OfflineAuthorisation, ReadOnlyAdmin)
admin.site.register(LostRange, ReadOnlyAdmin)
admin.site.register(RecordConflict, ReadOnlyAdmin)
admin.site.register(PostingSettings)
