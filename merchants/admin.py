"""Card-centre admin for merchants, their users, unit approvers and forms. Every write goes
through merchants.services; a form is decided with the approve/reject buttons on its page."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.errors import BusinessError

from . import selectors, services
from .forms import DecideForm
from .models import PAYOUT_FIELDS, Application, ApplicationKind, ApprovalStep, Merchant, MerchantUser, UnitApprover
from .setup import CENTRE_GROUP, FINANCE_GROUP


def _error(request, exc: BusinessError) -> None:
    messages.error(request, "; ".join(str(m) for m in exc.messages))


class MerchantUserInline(admin.TabularInline):
    model = MerchantUser
    fields = ("user", "role", "phone", "active", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # through the merchant user page (a service call)


class ApplicationInline(admin.TabularInline):
    model = Application
    fields = ("link", "kind", "status", "submitted_by", "submitted_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("form"))
    def link(self, application):
        url = reverse("admin:merchants_application_change", args=[application.pk])
        return format_html('<a href="{}">{}</a>', url, application.reference)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "internal", "unit", "status", "settlement_months", "bank_account_display",
                    "payable_account")
    list_filter = ("status", "kind", "internal", "unit")
    search_fields = ("code", "name")
    list_select_related = ("unit", "payable_account")
    readonly_fields = ("payable_account", "status", "status_changed_at", "created_at", "contact_display")
    inlines = [MerchantUserInline, ApplicationInline]
    fieldsets = (
        (None, {"fields": ("code", "name", "kind", "internal", "unit", "location", "status", "contact_display")}),
        (_("Settlement"), {"fields": ("settlement_months", "bank_name", "bank_account_name", "bank_account_no",
                                      "payable_account"),
                           "description": _("The bank account and payee change only through an approved business "
                                            "change form (U§13, M§42).")}),
        (_("History"), {"fields": ("created_at", "status_changed_at")}),
    )

    @admin.display(description=_("bank account number"))
    def bank_account_display(self, merchant):
        return merchant.bank_account_masked

    @admin.display(description=_("settlement contact"))
    def contact_display(self, merchant):
        link = merchant.settlement_contact
        return f"{link.user} {link.phone}".strip() if link else "-"

    def get_readonly_fields(self, request, obj=None):
        # Where the merchant is paid changes only through an approved change form (M§42).
        return self.readonly_fields + (("code", *PAYOUT_FIELDS) if obj else ())

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # the payable account, status and history come into being with the merchant
            return ((None, {"fields": ("code", "name", "kind", "internal", "unit", "location")}),
                    (_("Settlement"), {"fields": ("settlement_months", "bank_name", "bank_account_name",
                                                  "bank_account_no")}))
        return self.fieldsets

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in ("unit", "location", "settlement_months", "bank_name",
                                                    "bank_account_name", "bank_account_no") if f in form.cleaned_data}
        try:
            if change:
                changed = {f: form.cleaned_data[f] for f in form.changed_data if f in fields or f in ("name", "kind",
                                                                                                      "internal")}
                services.merchant_update(actor=request.user, merchant=obj, reason=gettext("Edited in admin"), **changed)
                return
            created = services.merchant_create(actor=request.user, code=obj.code, name=obj.name, kind=obj.kind,
                                               internal=obj.internal, **fields)
        except BusinessError as exc:
            _error(request, exc)
            raise
        obj.pk, obj.payable_account = created.pk, created.payable_account

    def save_formset(self, request, form, formset, change):
        # The inlines are read-only: they save nothing.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def has_delete_permission(self, request, obj=None):
        return False  # revoked or cancelled, never deleted (U§15, U§24)


class MerchantUserForm(forms.ModelForm):
    class Meta:
        model = MerchantUser
        fields = ("user", "merchant", "role", "phone")


@admin.register(MerchantUser)
class MerchantUserAdmin(admin.ModelAdmin):
    form = MerchantUserForm
    list_display = ("user", "merchant", "role", "phone", "active")
    list_filter = ("role", "active")
    search_fields = ("user__username", "merchant__code", "merchant__name")
    autocomplete_fields = ("merchant",)
    actions = ["remove_users"]

    def get_readonly_fields(self, request, obj=None):
        return ("user", "merchant", "role", "phone", "active") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            link = services.merchant_user_add(actor=request.user, merchant=obj.merchant, user=obj.user, role=obj.role,
                                              phone=obj.phone)
        except BusinessError as exc:
            _error(request, exc)
            raise
        obj.pk = link.pk

    @admin.action(description=_("Remove the selected merchant users"), permissions=["change"])
    def remove_users(self, request, queryset):
        for link in queryset.filter(active=True):
            try:
                services.merchant_user_remove(actor=request.user, link=link, reason=gettext("Removed in admin"))
            except BusinessError as exc:
                _error(request, exc)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UnitApprover)
class UnitApproverAdmin(admin.ModelAdmin):
    list_display = ("user", "unit")
    list_filter = ("unit",)
    fields = ("user", "unit")

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            created = services.unit_approver_add(actor=request.user, unit=obj.unit, user=obj.user)
        except BusinessError as exc:
            _error(request, exc)
            raise
        obj.pk = created.pk


class ApprovalStepInline(admin.TabularInline):
    model = ApprovalStep
    fields = ("seq", "role", "approver", "decision", "comment", "at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ApplicationAddForm(forms.ModelForm):
    """A paper form typed in by staff: the fields of the form as JSON (see merchants/forms.py)."""

    payload_json = forms.CharField(label=_("form contents (JSON)"), widget=forms.Textarea(attrs={"rows": 6}),
                                   initial="{}")

    class Meta:
        model = Application
        fields = ("merchant", "kind")

    def clean_payload_json(self):
        try:
            value = json.loads(self.cleaned_data["payload_json"] or "{}")
        except ValueError as exc:
            raise forms.ValidationError(gettext("Not valid JSON: %s") % exc) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(gettext("The contents are a JSON object."))
        return value


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("reference_display", "kind", "merchant", "status", "current_role", "submitted_by", "submitted_at")
    list_filter = ("status", "kind")
    search_fields = ("merchant__code", "merchant__name")
    list_select_related = ("merchant", "submitted_by")
    readonly_fields = ("reference_display", "kind", "merchant", "submitted_by", "submitted_at", "status",
                       "current_role", "payload_display", "decided_at")
    fields = readonly_fields
    inlines = [ApprovalStepInline]
    autocomplete_fields = ("merchant",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        user = request.user
        if user.is_superuser or user.groups.filter(name__in=[CENTRE_GROUP, FINANCE_GROUP]).exists():
            return qs
        # A managing unit's officer sees its own unit's merchants' forms only.
        return qs.filter(merchant__unit__approvers__user=user).distinct()

    @admin.display(description=_("reference"))
    def reference_display(self, application):
        return application.reference

    @admin.display(description=_("awaiting"))
    def current_role(self, application):
        if application.status != Application.Status.PENDING:
            return "-"
        step = application.steps.filter(seq=application.step).first()
        return step.get_role_display() if step else "-"

    @admin.display(description=_("form contents"))
    def payload_display(self, application):
        return format_html("<dl>{}</dl>", format_html_join(
            "", "<dt>{}</dt><dd>{}</dd>", ((k, v) for k, v in application.payload.items())))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApplicationAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("merchant", "kind", "payload_json") if obj is None else self.fields

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_add_permission(self, request):
        return request.user.has_perm("merchants.submit_application") or request.user.has_perm(
            "merchants.revoke_merchant")

    def has_change_permission(self, request, obj=None):
        return False  # decided with the buttons, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            created = services.application_submit(actor=request.user, merchant=obj.merchant, kind=obj.kind,
                                                  payload=form.cleaned_data["payload_json"])
        except BusinessError as exc:
            _error(request, exc)
            raise
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        pass  # the steps are made by the service

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BusinessError:
            # The service refused (message shown); show the empty form again rather than a 500.
            return HttpResponseRedirect(request.path)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            step = obj.current_step()
            if step and services.actor_has_role(actor=request.user, role=step.role, merchant=obj.merchant):
                context["decide_form"] = DecideForm()
                context["decide_url"] = reverse("admin:merchants_application_decide", args=[obj.pk])
                context["decide_role"] = step.get_role_display()
            context["kind_help"] = ApplicationKind(obj.kind).label
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view),
                     name="merchants_application_decide"), *super().get_urls()]

    def decide_view(self, request, object_id):
        if request.method != "POST":
            raise Http404
        application = self.get_object(request, unquote(object_id))
        if application is None:
            raise Http404
        if not request.user.has_perm("merchants.decide_application"):
            raise PermissionDenied
        form = DecideForm(request.POST)
        approve = "approve" in request.POST
        if not form.is_valid() or not (approve or "reject" in request.POST):
            messages.error(request, gettext("Approve or reject, with a comment."))
        else:
            try:
                application = services.application_decide(actor=request.user, application=application, approve=approve,
                                                          comment=form.cleaned_data["comment"])
            except BusinessError as exc:
                _error(request, exc)
            else:
                messages.success(request, gettext("Form %(ref)s: %(status)s.") % {
                    "ref": application.reference, "status": application.get_status_display()})
                for outcome in application.outcome:
                    for terminal_id, key in outcome.get("terminals", []):
                        # The key is shown here once and never again (R-TERM-1).
                        messages.warning(request, gettext("Terminal %(id)s key (shown once): %(key)s") % {
                            "id": terminal_id, "key": key})
        return HttpResponseRedirect(reverse("admin:merchants_application_change", args=[object_id]))

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["awaiting_count"] = selectors.applications_awaiting(user=request.user).count()
        return super().changelist_view(request, extra_context)
