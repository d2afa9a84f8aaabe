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
    list_display = ["name", "scopes_display", "merchant", "active", "token_prefix", "last_used_at"]
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

    @admin.display(description=_("scopes"))
    def scopes_display(self, client):
        labels = dict(Scope.choices)
        return "、".join(str(labels.get(s, s)) for s in client.scopes or [])


# --- users and groups: permissions named in the reader's language ------------------------------
# Django stores a permission's name in English when it creates it ("Can add audit entry"); the
# group and user pages list them all. Each is named again here from its model's translated name.

from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.admin import GroupAdmin, UserAdmin  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.utils.translation import gettext  # noqa: E402

DEFAULT_PERMISSION_NAMES = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission) -> str:
    model = permission.content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if model is None:
        return f"{permission.content_type.app_label} | {gettext(permission.name)}"
    app = apps.get_app_config(model._meta.app_label).verbose_name
    if action in DEFAULT_PERMISSION_NAMES and model_name == model._meta.model_name:
        name = DEFAULT_PERMISSION_NAMES[action] % {"model": model._meta.verbose_name}
    else:
        name = gettext(permission.name)  # our own permissions have msgids: "Can issue cards" …
    return f"{app} | {model._meta.verbose_name} | {name}"


class _TranslatedPermissions:
    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in ("permissions", "user_permissions") and field is not None:
            field.label_from_instance = permission_label
        return field


class CampusGroupAdmin(_TranslatedPermissions, GroupAdmin):
    pass


class CampusUserAdmin(_TranslatedPermissions, UserAdmin):
    pass


for _model, _admin in ((Group, CampusGroupAdmin), (get_user_model(), CampusUserAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)
