from django.contrib import admin, messages

from accounts.errors import BusinessError

from .models import Merchant
from .services import merchant_create


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "internal", "status", "payable_account")
    list_filter = ("kind", "internal", "status")
    search_fields = ("code", "name")
    readonly_fields = ("payable_account", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("code",) if obj else ())

    def get_exclude(self, request, obj=None):
        return ("payable_account",) if obj is None else ()

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        try:  # through the service: it creates the payable account and the audit row
            created = merchant_create(actor=request.user, code=obj.code, name=obj.name, kind=obj.kind,
                                      internal=obj.internal)
        except BusinessError as exc:
            messages.error(request, "; ".join(exc.messages))
            raise
        obj.pk, obj.payable_account = created.pk, created.payable_account

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted (U§24)


