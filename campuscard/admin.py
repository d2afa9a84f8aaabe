"""API clients in the admin (super admin): the token is shown once, when created or rotated."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from accounts.errors import BusinessError

from .api import services
from .api.models import ApiClient, Scope


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=_("scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "merchant", "active"]

    def clean(self):
        cleaned = super().clean()
        try:
            services.api_client_scopes_check(cleaned.get("scopes") or [], cleaned.get("merchant"))
        except BusinessError as exc:
            self.add_error("scopes", exc.messages)
        return cleaned


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "scopes", "merchant", "active", "token_prefix", "last_used_at"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at"]
    actions = ["rotate"]

    def save_model(self, request, obj, form, change):
        try:
            if change:
                services.api_client_update(actor=request.user, client=obj, scopes=obj.scopes, merchant=obj.merchant,
                                           active=obj.active)
                return
            client, token = services.api_client_create(actor=request.user, name=obj.name, scopes=obj.scopes,
                                                       merchant=obj.merchant)
        except BusinessError as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk = client.pk
        self.message_user(request, _("Token for %(name)s (shown once, copy it now): %(token)s")
                          % {"name": client.name, "token": token}, messages.WARNING)

    @admin.action(description=_("Issue a new token (the old one stops working)"))
    def rotate(self, request, queryset):
        for client in queryset:
            token = services.api_client_rotate(actor=request.user, client=client)
            self.message_user(request, _("Token for %(name)s (shown once, copy it now): %(token)s")
                              % {"name": client.name, "token": token}, messages.WARNING)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the audit trail names clients
