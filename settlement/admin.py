"""Settlement in the admin: thin. Every button parses a form, calls one service or report
function and shows its message; rows written by services are read-only here."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyMixin, YuanFieldsMixin
from accounts.errors import BusinessError
from accounts.formatting import yuan
from accounts.forms import ADJUSTMENT_LABELS
from accounts.models import AdjustmentRequest
from accounts.services import adjustment_decide
from merchants.models import Merchant

from . import day_detail, reports, selectors, services
from .models import (
    CloseException,
    Correction,
    DayClose,
    GraduationClosure,
    MerchantPolicy,
    Refund,
    Statement,
)


def _file(data: bytes, fmt: str, name: str) -> HttpResponse:
    resp = HttpResponse(data, content_type=reports.CONTENT_TYPES[fmt])
    resp["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return resp


def _form_view(model_admin, request, *, title, form_class, on_valid, intro=""):
    """GET shows the form; a valid POST calls on_valid(cleaned_data), which returns a response
    or a message; a BusinessError is shown on the form."""
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = on_valid(form.cleaned_data)
        except BusinessError as exc:
            form.add_error(None, exc)
        else:
            if isinstance(result, HttpResponse):
                return result
            model_admin.message_user(request, result, messages.SUCCESS)
            opts = model_admin.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    ctx = {**model_admin.admin_site.each_context(request), "title": title, "form": form, "intro": intro,
           "opts": model_admin.model._meta}
    return TemplateResponse(request, "settlement/admin_form.html", ctx)


def _run(request, model_admin, fn, ok):
    try:
        fn()
    except BusinessError as exc:
        model_admin.message_user(request, "; ".join(exc.messages), messages.ERROR)
    else:
        model_admin.message_user(request, ok, messages.SUCCESS)


class DayForm(forms.Form):
    day = forms.DateField(label=_("business day"), widget=forms.DateInput(attrs={"type": "date"}))


class PeriodForm(forms.Form):
    period_start = forms.DateField(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label=_("to"), widget=forms.DateInput(attrs={"type": "date"}))


class ReportForm(PeriodForm):
    fmt = forms.ChoiceField(label=_("format"), choices=[("xlsx", "XLSX"), ("pdf", "PDF"), ("csv", "CSV")])


class TextForm(forms.Form):
    text = forms.CharField(label=_("reason / reference"), max_length=200)


@admin.register(DayClose)
class DayCloseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("day", "status", "records", "purchase_yuan", "deposit_yuan", "open_exceptions", "runs", "run_at",
                    "duration_ms")
    list_filter = ("status",)
    date_hierarchy = "day"
    actions = ["rerun", "download_xlsx", "download_pdf", "download_csv"]
    readonly_fields = [f.name for f in DayClose._meta.fields]

    @admin.display(description=_("purchases (yuan)"))
    def purchase_yuan(self, obj):
        return yuan(obj.purchase_amount)

    @admin.display(description=_("deposits (yuan)"))
    def deposit_yuan(self, obj):
        return yuan(obj.deposit_amount)

    def get_urls(self):
        v = self.admin_site.admin_view
        return [path("run/", v(self.run_view), name="settlement_dayclose_run"),
                path("<int:pk>/postings/<str:kind>/", v(self.postings_view), name="settlement_dayclose_postings"),
                path("<int:pk>/report.<str:fmt>", v(self.report_view), name="settlement_dayclose_report"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The day's close as a clerk reads it (settlement.day_detail): the trial balance in yuan,
        the day against the previous closed day, the differences with links; no field dump."""
        dc = self.get_object(request, object_id)
        if dc is None or not self.has_view_permission(request, dc):
            return super().change_view(request, object_id, form_url, extra_context)  # the admin's 404 / 403
        ctx = {**self.admin_site.each_context(request), **day_detail.day_close_detail(dc=dc), "opts": self.opts,
               "title": _("Daily close %(day)s") % {"day": dc.day}, "original": dc,
               "can_run": self.has_run_permission(request),
               "can_resolve": request.user.has_perm("settlement.resolve_closeexception")}
        return TemplateResponse(request, "admin/settlement/dayclose/detail.html", ctx)

    def postings_view(self, request, pk, kind):
        dc = get_object_or_404(DayClose, pk=pk)
        if not (self.has_view_permission(request, dc) and request.user.has_perm("accounts.view_journal")):
            raise PermissionDenied
        raw = request.GET.get("account") or ""
        account_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
        ctx = {**self.admin_site.each_context(request), **day_detail.day_postings(dc=dc, kind=kind[:20],
                                                                                  account_id=account_id),
               "opts": self.opts, "original": dc}
        ctx["title"] = _("%(kind)s: postings of %(day)s") % {"kind": ctx["kind_label"], "day": dc.day}
        return TemplateResponse(request, "admin/settlement/dayclose/postings.html", ctx)

    def report_view(self, request, pk, fmt):
        dc = get_object_or_404(DayClose, pk=pk)
        if not self.has_view_permission(request, dc):
            raise PermissionDenied
        if fmt not in reports.RENDERERS:
            raise Http404
        return _file(reports.day_close_report(day=dc.day, fmt=fmt), fmt, f"day-close-{dc.day}")

    def run_view(self, request):
        if not request.user.has_perm("settlement.run_dayclose"):
            raise PermissionDenied

        def go(data):
            dc = services.day_close(day=data["day"], actor=request.user)
            return _("Day %(day)s closed: %(status)s.") % {"day": dc.day, "status": dc.get_status_display()}

        return _form_view(self, request, title=_("Run the daily close"), form_class=DayForm, on_valid=go)

    @admin.action(description=_("Run the close again"), permissions=["run"])
    def rerun(self, request, queryset):
        for dc in queryset:
            _run(request, self, lambda d=dc.day: services.day_close(day=d, actor=request.user), _("Re-run done."))

    def has_run_permission(self, request):
        return request.user.has_perm("settlement.run_dayclose")

    def _download(self, queryset, fmt):
        dc = queryset.order_by("day").first()
        return _file(reports.day_close_report(day=dc.day, fmt=fmt), fmt, f"day-close-{dc.day}")

    @admin.action(description=_("Download the daily close report (XLSX)"))
    def download_xlsx(self, request, queryset):
        return self._download(queryset, "xlsx")

    @admin.action(description=_("Download the daily close report (PDF)"))
    def download_pdf(self, request, queryset):
        return self._download(queryset, "pdf")

    @admin.action(description=_("Download the daily close report (CSV)"))
    def download_csv(self, request, queryset):
        return self._download(queryset, "csv")


@admin.register(CloseException)
class CloseExceptionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Each difference in words (settlement.day_detail), never its stored English detail or fen."""

    list_display = ("day", "kind", "subject", "difference", "what", "resolved_at", "resolved_by", "resolve_link")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    fields = ("day", "kind", "subject", "difference", "what", "see", "created_at", "resolved_at", "resolved_by",
              "resolution")
    readonly_fields = fields

    def changelist_view(self, request, extra_context=None):
        self._described = None  # described once per page, for all its rows
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._described = None
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _describe(self, obj) -> dict:
        cache = getattr(self, "_described", None)
        if cache is None or obj.pk not in cache:
            if cache is None:
                cache = {}
            # The page's rows: every exception of the days on the page, described at once.
            cache.update(day_detail.describe_many(CloseException.objects.filter(day_close_id=obj.day_close_id)))
            self._described = cache
        return cache.get(obj.pk, {})

    @admin.display(description=_("concerning"))
    def subject(self, obj):
        return self._describe(obj).get("subject", "")

    @admin.display(description=_("difference"), ordering="amount")
    def difference(self, obj):
        d = self._describe(obj)
        return (yuan(obj.amount) + " " + str(_("yuan"))) if d.get("money", True) else str(obj.amount)

    @admin.display(description=_("what differs"))
    def what(self, obj):
        return self._describe(obj).get("text", "")

    @admin.display(description=_("see"))
    def see(self, obj):
        from django.utils.html import format_html_join

        return format_html_join(" · ", '<a href="{}">{}</a>', ((x["url"], x["label"]) for x in
                                                              self._describe(obj).get("links", [])))

    @admin.display(description=_("resolve"))
    def resolve_link(self, obj):
        from django.utils.html import format_html

        if obj.resolved_at:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:settlement_closeexception_resolve", args=[obj.pk]),
                           _("Resolve"))

    def get_urls(self):
        return [path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view),
                     name="settlement_closeexception_resolve"), *super().get_urls()]

    def resolve_view(self, request, pk):
        exc = get_object_or_404(CloseException, pk=pk)

        def go(data):
            services.close_exception_resolve(actor=request.user, exception=exc, resolution=data["text"])
            return _("Resolved.")

        return _form_view(self, request, title=_("Resolve: %s") % exc, form_class=TextForm, on_valid=go)


@admin.register(Statement)
class StatementAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("consumption", "refunds", "corrections", "held_amount", "fee_base", "fee", "net")
    list_display = ("period_start", "period_end", "kind", "merchant", "purchases", "consumption", "refunds",
                    "corrections", "fee", "net", "status", "applied_late")
    list_filter = ("status", "kind", "period_start", "applied_late")
    search_fields = ("merchant__code", "merchant__name")
    readonly_fields = [f.name for f in Statement._meta.fields]
    actions = ["check_statements", "approve"]

    def get_urls(self):
        v = self.admin_site.admin_view
        return [
            path("compute/", v(self.compute_view), name="settlement_statement_compute"),
            path("report/", v(self.report_view), name="settlement_statement_report"),
            path("payouts/", v(self.payouts_view), name="settlement_statement_payouts"),
            path("<int:pk>/pay/", v(self.pay_view), name="settlement_statement_pay"),
            *super().get_urls(),
        ]

    def compute_view(self, request):
        def go(data):
            n = services.settlement_compute(actor=request.user, **data)
            return _("%(n)d statements computed.") % {"n": n}

        return _form_view(self, request, title=_("Compute settlements for a period"), form_class=PeriodForm,
                          on_valid=go, intro=_("Built from the daily closes; checked, approved and paid ones stay."))

    def report_view(self, request):
        if not request.user.has_perm("settlement.view_statement"):
            raise PermissionDenied
        fns = {"xlsx": reports.settlement_report_xlsx, "pdf": reports.settlement_report_pdf,
               "csv": reports.settlement_report_csv}

        def go(data):
            data = dict(data)
            fmt = data.pop("fmt")
            return _file(fns[fmt](**data), fmt, f"settlement-{data['period_start']}-{data['period_end']}")

        return _form_view(self, request, title=_("Department settlement report (部门结算报表)"), form_class=ReportForm,
                          on_valid=go)

    def payouts_view(self, request):
        if not request.user.has_perm("settlement.view_statement"):
            raise PermissionDenied

        def go(data):
            data = dict(data)
            fmt = data.pop("fmt")
            return _file(reports.payout_list(fmt=fmt, **data), fmt, "payouts")

        return _form_view(self, request, title=_("Payout list"), form_class=ReportForm, on_valid=go)

    def pay_view(self, request, pk):
        st = get_object_or_404(Statement, pk=pk)

        def go(data):
            services.statement_pay(actor=request.user, statement=st, bank_ref=data["text"])
            return _("Payout recorded.")

        return _form_view(self, request, title=_("Record the payout of %s") % st, form_class=TextForm, on_valid=go,
                          intro=_("Net %(net)s yuan, fee %(fee)s yuan.") % {"net": yuan(st.net), "fee": yuan(st.fee)})

    @admin.action(description=_("Checked with the merchant"))
    def check_statements(self, request, queryset):
        for st in queryset:
            _run(request, self, lambda s=st: services.statement_check(actor=request.user, statement=s), _("Checked."))

    @admin.action(description=_("Approve (finance)"))
    def approve(self, request, queryset):
        for st in queryset:
            _run(request, self, lambda s=st: services.statement_approve(actor=request.user, statement=s),
                 _("Approved."))


def _reject_link(obj, pending: str, url_name: str):
    from django.utils.html import format_html

    if obj.status != pending:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[obj.pk]), _("Reject"))


@admin.register(Correction)
class CorrectionAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("amount",)
    list_display = ("id", "merchant", "record", "amount", "status", "requested_by", "requested_at", "decided_by",
                    "reject_link")
    list_filter = ("status",)
    readonly_fields = [f.name for f in Correction._meta.fields]
    actions = ["approve"]

    @admin.display(description=_("reject"))
    def reject_link(self, obj):
        return _reject_link(obj, Correction.Status.REQUESTED, "admin:settlement_correction_reject")

    def get_urls(self):
        return [path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view),
                     name="settlement_correction_reject"), *super().get_urls()]

    def reject_view(self, request, pk):
        """Reject a correction form with the reason the merchant will read (U§9)."""
        if not request.user.has_perm("settlement.decide_correction"):
            raise PermissionDenied
        corr = get_object_or_404(Correction, pk=pk)

        def go(data):
            services.correction_decide(actor=request.user, correction=corr, approve=False, note=data["text"])
            return _("Rejected.")

        return _form_view(self, request, title=_("Reject correction form %s") % corr, form_class=TextForm, on_valid=go,
                          intro=_("Over-charge %(amount)s yuan: %(reason)s") % {"amount": yuan(corr.amount),
                                                                               "reason": corr.reason})

    @admin.action(description=_("Approve: credit the holder from the merchant"))
    def approve(self, request, queryset):
        for c in queryset:
            _run(request, self, lambda c=c: services.correction_decide(actor=request.user, correction=c, approve=True),
                 _("Corrected."))


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Adjustments (R-ADJ-1) are accounts' rows; finance decides them here beside its other
    approvals, and on the finance desk. Filed from the holder page or the desk."""

    list_display = ("id", "holder", "kind_label", "amount", "status", "requested_by", "decided_by", "decided_at",
                    "reject_link")
    list_filter = ("status",)
    yuan_fields = ("amount",)
    exclude = ("kind",)
    readonly_fields = [f.name if f.name != "kind" else "kind_label" for f in AdjustmentRequest._meta.fields]

    @admin.display(description=_("adjustment"), ordering="kind")
    def kind_label(self, obj):
        return ADJUSTMENT_LABELS.get(obj.kind, obj.kind)

    actions = ["approve"]

    @admin.display(description=_("reject"))
    def reject_link(self, obj):
        return _reject_link(obj, AdjustmentRequest.Status.PENDING, "admin:accounts_adjustmentrequest_reject")

    def get_urls(self):
        return [path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view),
                     name="accounts_adjustmentrequest_reject"), *super().get_urls()]

    def reject_view(self, request, pk):
        """Reject a bank adjustment with a reason (R-ADJ-1); the service checks the second person."""
        if not request.user.has_perm("accounts.adjust_account"):
            raise PermissionDenied
        req = get_object_or_404(AdjustmentRequest, pk=pk)

        def go(data):
            adjustment_decide(actor=request.user, request=req, approve=False, note=data["text"])
            return _("Rejected.")

        return _form_view(self, request, title=_("Reject adjustment %s") % req, form_class=TextForm, on_valid=go,
                          intro=_("%(amount)s yuan: %(reason)s") % {"amount": yuan(req.amount), "reason": req.reason})

    @admin.action(description=_("Approve and post (a second person)"))
    def approve(self, request, queryset):
        for r in queryset:
            _run(request, self, lambda r=r: adjustment_decide(actor=request.user, request=r, approve=True),
                 _("Posted."))


class ConfirmedReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200)
    confirm = forms.BooleanField(label=_("I confirm"), required=True)


class OffenderForm(ConfirmedReasonForm):
    merchant = forms.ModelChoiceField(label=_("merchant"), queryset=Merchant.objects.order_by("code"))
    offender = forms.TypedChoiceField(label=_("repeat duplicate-charge offender"), coerce=lambda v: v == "yes",
                                      choices=[("yes", _("Mark: refund both charges (退一赔一)")),
                                               ("no", _("Clear the mark"))])
    field_order = ["merchant", "offender", "reason", "confirm"]


def _with_tools(model_admin, request, extra_context, tools):
    """The changelist with buttons for the screens below (those the user may use)."""
    extra_context = dict(extra_context or {})
    extra_context["extra_tools"] = [(reverse(f"admin:{name}"), label) for name, label, perm in tools
                                    if request.user.has_perm(perm)]
    return extra_context


@admin.register(Refund)
class RefundAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("from_merchant", "from_surcharge")
    list_display = ("id", "merchant", "record", "kind", "from_merchant", "from_surcharge", "actor", "created_at")
    list_filter = ("kind",)
    readonly_fields = [f.name for f in Refund._meta.fields]
    change_list_template = "settlement/change_list_tools.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, _with_tools(self, request, extra_context, [
            ("settlement_refund_duplicates", _("Suspected duplicates to refund"), "settlement.add_refund")]))

    def get_urls(self):
        return [path("duplicates/", self.admin_site.admin_view(self.duplicates_view),
                     name="settlement_refund_duplicates"),
                path("duplicates/<int:record_id>/", self.admin_site.admin_view(self.refund_view),
                     name="settlement_refund_duplicate"), *super().get_urls()]

    def duplicates_view(self, request):
        """Suspected duplicate charges not yet refunded (R-DUP-1): the staff side of what a merchant
        confirms in its portal, for a holder who comes to the centre."""
        if not request.user.has_perm("settlement.add_refund"):
            raise PermissionDenied
        ctx = {**self.admin_site.each_context(request), "title": _("Suspected duplicates to refund"),
               "opts": self.model._meta, "rows": selectors.duplicates_to_refund(limit=200)}
        return TemplateResponse(request, "settlement/duplicates.html", ctx)

    def refund_view(self, request, record_id):
        if not request.user.has_perm("settlement.add_refund"):
            raise PermissionDenied
        record = selectors.duplicate_to_refund(record_id=record_id)
        if record is None:
            raise Http404
        policy = MerchantPolicy.objects.filter(merchant_id=record.merchant_id, repeat_offender=True).exists()

        def go(data):
            refunds = services.duplicate_refund(actor=request.user, record=record, reason=data["reason"])
            total = sum(r.from_merchant + r.from_surcharge for r in refunds)
            return _("Refunded %(amount)s yuan to card %(card)s as pending credit (%(n)s refunds).") % {
                "amount": yuan(total), "card": record.card_no, "n": len(refunds)}

        intro = _("Card %(card)s, %(merchant)s, terminal %(terminal)s at %(time)s: %(amount)s yuan, a suspected "
                  "duplicate (R-DUP-1). The whole charge goes back to the holder's purse as pending credit, at the "
                  "merchant's cost.") % {"card": record.card_no, "merchant": record.merchant,
                                         "terminal": record.terminal_id, "time": record.time,
                                         "amount": yuan(record.base_amount + record.surcharge)}
        if policy:
            intro += " " + _("The merchant is a repeat offender: the charge it repeats is refunded too (退一赔一, R-DUP-2).")
        return _form_view(self, request, title=_("Refund a duplicate charge"), form_class=ConfirmedReasonForm,
                          on_valid=go, intro=intro)


@admin.register(MerchantPolicy)
class MerchantPolicyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("merchant", "repeat_offender", "reason", "changed_by", "changed_at")
    readonly_fields = [f.name for f in MerchantPolicy._meta.fields]
    change_list_template = "settlement/change_list_tools.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, _with_tools(self, request, extra_context, [
            ("settlement_merchantpolicy_offender", _("Mark or clear a repeat offender"),
             "settlement.change_merchantpolicy")]))

    def get_urls(self):
        return [path("offender/", self.admin_site.admin_view(self.offender_view),
                     name="settlement_merchantpolicy_offender"), *super().get_urls()]

    def offender_view(self, request):
        """Mark (or clear) a merchant with repeated duplicate charges (R-DUP-2): from then on a
        duplicate refund also refunds the charge it repeats, at the merchant's cost (退一赔一)."""
        if not request.user.has_perm("settlement.change_merchantpolicy"):
            raise PermissionDenied

        def go(data):
            policy = services.merchant_offender_set(actor=request.user, merchant=data["merchant"],
                                                    offender=data["offender"], reason=data["reason"])
            return (_("%(merchant)s is marked a repeat offender (R-DUP-2).") if policy.repeat_offender
                    else _("%(merchant)s is no longer marked a repeat offender.")) % {"merchant": data["merchant"]}

        return _form_view(self, request, title=_("Mark or clear a repeat offender"), form_class=OffenderForm,
                          on_valid=go, intro=_("A merchant with repeated duplicate charges refunds both charges to the "
                                               "holder (退一赔一, R-DUP-2)."))


@admin.register(GraduationClosure)
class GraduationClosureAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("total",)
    list_display = ("id", "cohort", "holders", "paid", "total", "without_bank_card", "actor", "created_at")
    readonly_fields = [f.name for f in GraduationClosure._meta.fields]
    actions = ["bank_file"]

    @admin.action(description=_("Download the bank transfer file (CSV)"))
    def bank_file(self, request, queryset):
        closure = queryset.first()
        return _file(reports.closure_bank_file_csv(closure=closure), "csv", f"graduation-{closure.pk}-bank")

