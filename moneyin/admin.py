"""Money in for staff: bank transfers and their reversals, the bank's statement import and the
reconciliation's differences. Thin: every button parses a form and calls one service; rows are
read-only here. Adjustments are approved where every adjustment is (accounts' adjustment requests)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyMixin, YuanFieldsMixin
from accounts.errors import BusinessError
from accounts.forms import ADJUSTMENT_LABELS
from accounts.timeutil import business_day

from . import banklink, online, reconcile
from .models import BankStatement, BankTransfer, OnlineOrder, StatementDifference


def _form_view(model_admin, request, *, title, form, on_valid, intro="", multipart=False, back=None):
    if request.method == "POST" and form.is_valid():
        try:
            result = on_valid(form.cleaned_data)
        except BusinessError as exc:
            form.add_error(None, exc)
        else:
            model_admin.message_user(request, result, messages.SUCCESS)
            opts = model_admin.model._meta
            return HttpResponseRedirect(back or reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    ctx = {**model_admin.admin_site.each_context(request), "title": title, "form": form, "intro": intro,
           "opts": model_admin.model._meta, "multipart": multipart}
    return TemplateResponse(request, "moneyin/admin_form.html", ctx)


@admin.register(BankTransfer)
class BankTransferAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("amount",)
    list_display = ("created_at", "rrn", "stan", "holder", "amount", "channel", "status", "response_code",
                    "reversal_tries", "ignored_answers")
    list_filter = ("status", "channel")
    search_fields = ("rrn", "holder__number", "holder__name")
    readonly_fields = ("rrn", "stan", "transmitted", "holder", "bank_card_no", "amount", "channel", "terminal_id",
                       "actor", "status", "response_code", "auth_code", "journal", "created_at", "answered_at",
                       "reversal_tries", "reversed_at", "ignored_answers")
    fields = readonly_fields
    actions = ["reverse_again"]
    change_list_template = "moneyin/change_list_tools.html"

    @admin.action(description=_("Send the reversals the bank has not acknowledged"))
    def reverse_again(self, request, queryset):
        done = sum(banklink.bank_reversal_send(transfer=t) for t in queryset.filter(status=BankTransfer.Status.REVERSING))
        self.message_user(request, gettext("%(n)s reversals acknowledged.") % {"n": done}, messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        tools = []
        if request.user.has_perm("moneyin.bank_transfer"):
            tools.append((reverse("admin:moneyin_banktransfer_send"), _("Bank transfer at the counter")))
        return super().changelist_view(request, {**(extra_context or {}), "extra_tools": tools})

    def get_urls(self):
        return [path("send/", self.admin_site.admin_view(self.send_view), name="moneyin_banktransfer_send"),
                *super().get_urls()]

    def send_view(self, request):
        if not request.user.has_perm("moneyin.bank_transfer"):
            return HttpResponse(status=403)
        form = TransferForm(request.POST or None)

        def go(data):
            from accounts.selectors import holder_get_by_number

            holder = holder_get_by_number(number=data["number"])
            if holder is None:
                raise BusinessError(gettext("No cardholder has that number."))
            t = banklink.bank_transfer(holder=holder, amount=data["amount"], channel=BankTransfer.Channel.STAFF,
                                       terminal_id="DESK0001", actor=request.user)
            return gettext("Transfer %(rrn)s: %(status)s.") % {"rrn": t.rrn, "status": t.get_status_display()}

        return _form_view(self, request, title=_("Bank transfer at the counter"), form=form, on_valid=go,
                          intro=_("Moves money from the holder's bank card on file to the campus account through "
                                  "the bank; the card takes it as pending credit at any top-up point."))


class TransferForm(forms.Form):
    number = forms.CharField(label=_("staff/student number"), max_length=32)
    amount = forms.DecimalField(label=_("amount (yuan)"), min_value=0, max_digits=10, decimal_places=2)

    def clean_amount(self):
        return int(self.cleaned_data["amount"] * 100)


class StatementForm(forms.Form):
    source = forms.ChoiceField(label=_("source"), choices=BankStatement.Source.choices)
    day = forms.DateField(label=_("business day"), widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(label=_("statement file (CSV)"))


class DifferenceInline(admin.TabularInline):
    model = StatementDifference
    fields = readonly_fields = ("rrn", "kind", "holder", "bank_yuan", "campus_yuan", "state")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("statement amount (yuan)"))
    def bank_yuan(self, obj):
        from accounts.formatting import yuan

        return yuan(obj.bank_amount)

    @admin.display(description=_("campus amount (yuan)"))
    def campus_yuan(self, obj):
        from accounts.formatting import yuan

        return yuan(obj.campus_amount)

    @admin.display(description=_("state"))
    def state(self, obj):
        return difference_state(obj)


def difference_state(obj) -> str:
    if obj.request is None:
        return gettext("Open")
    if obj.resolved:
        return gettext("Adjusted")
    return gettext("Adjustment %(status)s") % {"status": obj.request.get_status_display()}


@admin.register(BankStatement)
class BankStatementAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("bank_total", "campus_total")
    list_display = ("day", "source", "filename", "rows", "matched", "difference_count", "bank_total", "campus_total",
                    "imported_by", "imported_at")
    list_filter = ("source",)
    fields = readonly_fields = ("day", "source", "filename", "rows", "matched", "bank_total", "campus_total", "imported_by",
                                "imported_at")
    inlines = [DifferenceInline]
    change_list_template = "moneyin/change_list_tools.html"

    @admin.display(description=_("differences"))
    def difference_count(self, obj):
        return obj.differences.count()

    def changelist_view(self, request, extra_context=None):
        tools = []
        if request.user.has_perm("moneyin.reconcile_bank"):
            tools.append((reverse("admin:moneyin_bankstatement_import"), _("Import the bank's statement")))
        return super().changelist_view(request, {**(extra_context or {}), "extra_tools": tools})

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="moneyin_bankstatement_import"),
                *super().get_urls()]

    def import_view(self, request):
        if not request.user.has_perm("moneyin.reconcile_bank"):
            return HttpResponse(status=403)
        form = StatementForm(request.POST or None, request.FILES or None,
                             initial={"day": business_day()})

        def go(data):
            f = data["file"]
            st = reconcile.statement_import(actor=request.user, day=data["day"], content=f.read(), filename=f.name,
                                            source=data["source"])
            return gettext("Statement of %(day)s: %(rows)s rows, %(matched)s matched, %(diffs)s differences.") % {
                "day": st.day, "rows": st.rows, "matched": st.matched, "diffs": st.differences.count()}

        return _form_view(self, request, title=_("Import the bank's statement"), form=form, on_valid=go,
                          multipart=True,
                          intro=_("The bank's CSV for one day (date, rrn, stan, bank_card, campus_account, "
                                  "campus_card, amount in yuan) or the payment channel's (date, out_trade_no, "
                                  "trade_no, type, amount in yuan). A file with a bad row is refused whole."))


class AdjustForm(forms.Form):
    kind = forms.ChoiceField(label=_("Adjustment"))
    reason = forms.CharField(label=_("reason"), max_length=200)

    def __init__(self, *args, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, ADJUSTMENT_LABELS[k]) for k in kinds]


@admin.register(StatementDifference)
class StatementDifferenceAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("bank_amount", "campus_amount")
    list_display = ("statement", "rrn", "kind", "holder", "bank_amount", "campus_amount", "state", "adjust_link")
    list_filter = ("kind", "statement__source", "statement__day")
    search_fields = ("rrn", "holder__number", "holder__name")
    fields = readonly_fields = ("statement", "rrn", "kind", "holder", "transfer", "order", "bank_amount", "campus_amount",
                                "journal", "request", "state")

    @admin.display(description=_("state"))
    def state(self, obj):
        return difference_state(obj)

    @admin.display(description=_("adjust"))
    def adjust_link(self, obj):
        if obj.request is not None and obj.request.status != obj.request.Status.REJECTED:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:moneyin_statementdifference_adjust", args=[obj.pk]),
                           _("Ask for an adjustment"))

    def get_urls(self):
        return [path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view),
                     name="moneyin_statementdifference_adjust"), *super().get_urls()]

    def adjust_view(self, request, pk):
        d = get_object_or_404(StatementDifference, pk=pk)
        kinds = reconcile.kinds_for(d)
        form = AdjustForm(request.POST or None, kinds=kinds)

        def go(data):
            req = reconcile.difference_adjustment_request(actor=request.user, difference=d, kind=data["kind"],
                                                          reason=data["reason"])
            return gettext("Adjustment request #%(pk)s filed; another person approves it.") % {"pk": req.pk}

        return _form_view(self, request, title=_("Adjustment for a statement difference"), form=form, on_valid=go,
                          back=reverse("admin:accounts_adjustmentrequest_changelist"),
                          intro=_("One of the four adjustments of the regulations clears the difference; it is "
                                  "posted only when another person approves it."))


class RefundForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200)


@admin.register(OnlineOrder)
class OnlineOrderAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    yuan_fields = ("amount",)
    list_display = ("created_at", "out_trade_no", "holder", "amount", "status", "paid_at", "ignored_notifies",
                    "refund_link")
    list_filter = ("status",)
    search_fields = ("out_trade_no", "trade_no", "holder__number", "holder__name")
    fields = readonly_fields = ("out_trade_no", "trade_no", "holder", "amount", "status", "journal", "refund_journal",
                                "created_at", "paid_at", "refunded_at", "ignored_notifies")
    actions = ["query_channel"]

    @admin.action(description=_("Ask the channel how the orders stand"))
    def query_channel(self, request, queryset):
        n = 0
        for order in queryset.filter(status=OnlineOrder.Status.CREATED):
            try:
                n += online.online_order_query(order=order).status == OnlineOrder.Status.PAID
            except BusinessError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
        self.message_user(request, gettext("%(n)s orders found paid and credited.") % {"n": n}, messages.SUCCESS)

    @admin.display(description=_("refund"))
    def refund_link(self, obj):
        if obj.status != OnlineOrder.Status.PAID:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:moneyin_onlineorder_refund", args=[obj.pk]),
                           _("Refund"))

    def get_urls(self):
        return [path("<int:pk>/refund/", self.admin_site.admin_view(self.refund_view),
                     name="moneyin_onlineorder_refund"), *super().get_urls()]

    def refund_view(self, request, pk):
        order = get_object_or_404(OnlineOrder, pk=pk)

        def go(data):
            online.online_order_refund(actor=request.user, order=order, reason=data["reason"])
            return gettext("Order %(no)s refunded.") % {"no": order.out_trade_no}

        return _form_view(self, request, title=_("Refund an online top-up"), form=RefundForm(request.POST or None),
                          on_valid=go)
