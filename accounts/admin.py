"""The card centre's back office (Django admin) for cardholders, cards, purses and the ledger.

Nothing here writes business rows directly: cardholders, units and fees are saved through their
services (holder_create/update, unit_create/update/unit_agents_set, fee_schedule_add), and every
button calls one service (admin_views).
Ledger accounts, journals, postings, purses, block-list entries and the audit log are read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, Sum
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from . import admin_views, selectors, services
from .errors import BusinessError
from .formatting import yuan
from .forms import PERSON_NAME, AdjustmentLimitAddForm, CardholderAdminForm, FeeScheduleAddForm, UnitAdminForm
from .models import (
    AdjustmentLimit,
    AuditLog,
    BlockListEntry,
    Card,
    Cardholder,
    CardStatus,
    FeeSchedule,
    IssueBatch,
    Journal,
    LedgerAccount,
    Posting,
    Purse,
    Unit,
)
from .parsing import card_no_param


class ReadOnlyMixin:
    """Rows written only by services: nobody adds, changes or deletes them here, not even a superuser."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _yuan_label(field):
    """A money field's label for people: its verbose name with (fen)/(分) read as (yuan)/(元)."""
    def label():
        text = str(field.verbose_name)
        for fen, yuan_ in (("(fen)", "(yuan)"), ("(分)", "(元)"), ("（分）", "（元）")):
            text = text.replace(fen, yuan_)
        return text
    return lazy(label, str)()


def yuan_display(model, name: str):
    """An admin column / read-only field showing the integer-fen model field `name` in yuan; it
    keeps the field's name, so its column and field CSS classes and its ordering stay the same."""
    field = model._meta.get_field(name)

    def show(obj):
        return yuan(getattr(obj, name))

    show.__name__ = name
    show.short_description = _yuan_label(field)
    show.admin_order_field = name
    return show


class YuanFieldsMixin:
    """Shows the fields named in `yuan_fields` (integer fen in the database) in yuan wherever the
    admin shows them: list columns and read-only change pages. Staff never read fen."""

    yuan_fields: tuple[str, ...] = ()

    def _in_yuan(self, names):
        return [yuan_display(self.model, n) if isinstance(n, str) and n in self.yuan_fields else n for n in names]

    def get_list_display(self, request):
        return self._in_yuan(super().get_list_display(request))

    def get_readonly_fields(self, request, obj=None):
        return self._in_yuan(super().get_readonly_fields(request, obj))

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *self.yuan_fields]


class ServiceFormMixin:
    """For a ModelAdmin whose save_model calls a service: a BusinessError from the service (its
    transaction rolled back) shows the same form again, bound to what was typed, with the service's
    message as a form error, instead of a server error."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BusinessError as exc:
            if request.method != "POST" or hasattr(request, "_service_error"):
                raise
            request._service_error = exc
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, "_service_error", None)
        if error is None:
            return form

        class ServiceRefusedForm(form):
            def clean(self):
                cleaned = super().clean()
                for message in error.messages:
                    self.add_error(None, message)
                return cleaned

        return ServiceRefusedForm

    @staticmethod
    def _saved(obj, saved) -> None:
        """Point the admin's unsaved instance at the row the service wrote."""
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()


def _link(obj, text=None):
    if obj is None:
        return "-"
    url = reverse(f"admin:accounts_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def _purse(holder) -> Purse | None:
    try:
        return holder.purse
    except Purse.DoesNotExist:
        return None


def _action_urls(model_admin, actions):
    info = model_admin.opts.app_label, model_admin.opts.model_name
    urls = []
    for action in actions:
        def view(request, object_id, action=action):
            return admin_views.action_view(model_admin, request, object_id, action)

        urls.append(path(f"<path:object_id>/{action.slug}/", model_admin.admin_site.admin_view(view),
                         name=action.url_name(info[1])))
    return urls


# --- cardholders --------------------------------------------------------------------

class CardInline(ReadOnlyMixin, admin.TabularInline):
    model = Card
    fk_name = "holder"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("card_no", "card_type", "status", "issued_on", "valid_until", "card_actions")
    readonly_fields = fields
    verbose_name_plural = _("cards")

    def get_formset(self, request, obj=None, **kwargs):
        self.request = request  # inline instances are made per request; card_actions needs the user
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=_("actions"))
    def card_actions(self, card):
        request = getattr(self, "request", None)
        if request is None or card.pk is None:
            return ""
        back = reverse("admin:accounts_cardholder_change", args=[card.holder_id])
        buttons = admin_views.action_buttons(request, card, next_url=back)
        if not buttons:
            return "-"
        return format_html_join(" | ", '<a href="{}">{}</a>', ((b["url"], b["label"]) for b in buttons))


@admin.register(Cardholder)
class CardholderAdmin(ServiceFormMixin, admin.ModelAdmin):
    form = CardholderAdminForm
    list_display = ("number", "holder_name", "id_number_display", "category", "unit", "status", "balance_display")
    list_filter = ("status", "category", "unit")
    list_select_related = ("unit", "purse__account")
    search_fields = ("number",)  # the search itself is selectors.holder_search
    search_help_text = _("Staff/student number, name or card number.")
    inlines = [CardInline]
    change_form_template = "admin/accounts/cardholder/change_form.html"
    PERSON = ["number", "name", "id_number", "category", "entry", "unit", "start_date", "end_date", "bank_card_no"]
    PURSE = ["purse_balance", "purse_card_balance", "purse_pending", "purse_subsidies", "purse_card_seen"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(pk__in=selectors.holder_search(q=search_term).values("pk")), False

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.PERSON})]
        person = list(self.PERSON)
        if self.has_change_permission(request, obj):
            person.append("change_reason")
        else:  # a read-only page shows the masked number only
            person[person.index("id_number")] = "id_number_display"
            person[person.index("name")] = "holder_name"
        return [
            (None, {"fields": person}),
            (_("Account"), {"fields": ["status", "closed_at", "created_at"]}),
            (_("Purse"), {"fields": self.PURSE}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["number", "holder_name", "id_number_display", "status", "closed_at", "created_at", *self.PURSE]

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are closed (R-CLOSE-1), never deleted

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    # Display helpers --------------------------------------------------------------

    @admin.display(description=PERSON_NAME, ordering="name")
    def holder_name(self, holder):
        return holder.name

    @admin.display(description=_("ID number"))
    def id_number_display(self, holder):
        return holder.id_number_masked or "-"

    @admin.display(description=_("balance (yuan)"), ordering="purse__account__balance")
    def balance_display(self, holder):
        purse = _purse(holder)
        return yuan(purse.account.balance) if purse else "-"

    @admin.display(description=_("Account balance (库, yuan)"))
    def purse_balance(self, holder):
        purse = _purse(holder)
        return yuan(purse.account.balance) if purse else "-"

    @admin.display(description=_("Last card balance (卡, yuan)"))
    def purse_card_balance(self, holder):
        purse = _purse(holder)
        return yuan(purse.card_balance) if purse else "-"

    @admin.display(description=_("Pending credit (过渡余额, yuan)"))
    def purse_pending(self, holder):
        purse = _purse(holder)
        return yuan(purse.pending) if purse else "-"

    @admin.display(description=_("Subsidies to collect at a top-up point (yuan)"))
    def purse_subsidies(self, holder):
        from .subsidies import subsidies_open_total

        url = reverse("admin:accounts_subsidyline_changelist") + f"?holder__id__exact={holder.pk}"
        return format_html('{} <a href="{}">{}</a>', yuan(subsidies_open_total(holder_id=holder.pk)), url,
                           _("all subsidies"))

    @admin.display(description=_("Card last seen"))
    def purse_card_seen(self, holder):
        purse = _purse(holder)
        if purse is None or purse.card_seen_at is None:
            return "-"
        return _("%(at)s (counter %(counter)s)") % {"at": purse.card_seen_at.strftime("%Y-%m-%d %H:%M"),
                                                     "counter": purse.card_counter}

    # Saving through the services -----------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in services.HOLDER_FIELDS if f in form.cleaned_data}
        if change:
            holder = services.holder_update(actor=request.user, holder=obj,
                                            reason=form.cleaned_data.get("change_reason", ""), **data)
        else:
            name, category = data.pop("name"), data.pop("category")
            holder = services.holder_create(actor=request.user, number=form.cleaned_data["number"], name=name,
                                            category=category, **data)
        self._saved(obj, holder)

    def save_formset(self, request, form, formset, change):
        # Cards change only through their buttons: the read-only inline saves nothing.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["action_buttons"] = admin_views.action_buttons(request, obj)
            context["audit_rows"] = admin_views.holder_history_rows(obj)
            if request.user.has_perm("accounts.view_auditlog"):
                context["audit_more_url"] = reverse("admin:accounts_auditlog_changelist") + f"?holder__id__exact={obj.pk}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return _action_urls(self, admin_views.HOLDER_ACTIONS) + super().get_urls()


# --- cards --------------------------------------------------------------------------

@admin.register(Card)
class CardAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("card_no", "card_type", "status", "holder_link", "unit", "issued_on", "valid_until", "balance_display")
    list_filter = ("card_type", "status", "unit")
    list_select_related = ("holder", "unit", "purse__account")
    search_fields = ("card_no",)  # see get_search_results
    search_help_text = _("Card number, or the holder's staff/student number.")
    fields = ("card_no", "card_type", "status", "holder_link", "balance_display", "issued_on", "valid_until", "unit",
              "batch_link", "replaces_link", "replaced_by_link", "label", "functions", "status_changed_at")
    readonly_fields = fields
    change_form_template = "admin/accounts/card/change_form.html"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        cond = Q(holder__number__iexact=term)
        if (card_no := card_no_param(term)) is not None:
            cond |= Q(card_no=card_no)
        return queryset.filter(cond), False

    @admin.display(description=_("cardholder"), ordering="holder__number")
    def holder_link(self, card):
        return _link(card.holder) if card.holder_id else _("anonymous")

    @admin.display(description=_("balance (yuan)"))
    def balance_display(self, card):
        return yuan(card.purse.account.balance)

    @admin.display(description=_("batch"))
    def batch_link(self, card):
        return _link(card.batch)

    @admin.display(description=_("replaces card"))
    def replaces_link(self, card):
        return _link(card.replaces)

    @admin.display(description=_("replaced by"))
    def replaced_by_link(self, card):
        try:
            return _link(card.replaced_by)
        except Card.DoesNotExist:
            return "-"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["action_buttons"] = admin_views.action_buttons(request, obj)
            context["audit_rows"] = admin_views.card_history_rows(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return _action_urls(self, admin_views.CARD_ACTIONS) + super().get_urls()


# --- batches ------------------------------------------------------------------------

@admin.register(IssueBatch)
class IssueBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "unit", "card_type", "rows", "fees_display", "filename", "actor", "created_at")
    list_filter = ("card_type", "unit")
    list_select_related = ("unit", "actor")
    fields = ("unit", "card_type", "rows", "fees_display", "filename", "actor", "created_at")
    readonly_fields = fields
    change_form_template = "admin/accounts/issuebatch/change_form.html"
    change_list_template = "admin/accounts/issuebatch/change_list.html"

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("accounts.import_batch")

    def get_queryset(self, request):
        # A unit's batch agent sees the batches of their own unit only (R-ISSUE-2).
        qs = super().get_queryset(request)
        if hasattr(request.user, "unit_agent"):
            qs = qs.filter(unit_id=request.user.unit_agent.unit_id)
        return qs

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:accounts_issuebatch_import"))

    @admin.display(description=_("fees (yuan)"), ordering="fee_total")
    def fees_display(self, batch):
        return yuan(batch.fee_total)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": request.user.has_perm("accounts.import_batch")}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["batch_cards"] = obj.cards.select_related("holder").order_by("id")[:100]
            context["batch_cards_url"] = reverse("admin:accounts_card_changelist") + f"?batch__id__exact={obj.pk}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view(lambda request: admin_views.batch_import_view(self, request))
        return [path("import/", view, name="accounts_issuebatch_import"), *super().get_urls()]


# --- reference data -----------------------------------------------------------------

@admin.register(Unit)
class UnitAdmin(ServiceFormMixin, admin.ModelAdmin):
    form = UnitAdminForm
    list_display = ("code", "name", "agents_display")
    search_fields = ("code", "name")
    fields = ("code", "name", "agents", "change_reason")

    def get_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return ("code", "name", "agents_display")  # read-only: "agents" is a form field, not an attribute
        return self.fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("agents__user")

    def has_delete_permission(self, request, obj=None):
        return False  # cards and batches refer to units

    @admin.display(description=_("Batch agents"))
    def agents_display(self, unit):
        return ", ".join(a.user.get_username() for a in unit.agents.all()) or "-"

    def save_model(self, request, obj, form, change):
        data, reason = {f: form.cleaned_data[f] for f in services.UNIT_FIELDS}, form.cleaned_data.get("change_reason", "")
        if change:
            unit = services.unit_update(actor=request.user, unit=obj, reason=reason, **data)
        else:
            unit = services.unit_create(actor=request.user, reason=reason, **data)
        services.unit_agents_set(actor=request.user, unit=unit, users=form.cleaned_data.get("agents") or [],
                                 reason=reason)
        self._saved(obj, unit)


@admin.register(FeeSchedule)
class FeeScheduleAdmin(ServiceFormMixin, admin.ModelAdmin):
    """Finance adds a fee from a date on; a fee in the past is history and is never changed."""

    form = FeeScheduleAddForm
    list_display = ("kind", "amount_display", "effective_from")
    list_filter = ("kind",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("kind", "amount_yuan", "effective_from", "reason")
        return ("kind", "amount_display", "effective_from")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fee = services.fee_schedule_add(actor=request.user, kind=data["kind"], amount=obj.amount,
                                        effective_from=data["effective_from"], reason=data["reason"])
        self._saved(obj, fee)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("kind", "amount_display", "effective_from")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount (yuan)"), ordering="amount")
    def amount_display(self, fee):
        return yuan(fee.amount)


@admin.register(AdjustmentLimit)
class AdjustmentLimitAdmin(ServiceFormMixin, admin.ModelAdmin):
    """The most one adjustment may move (R-ADJ-1): added from a date on, never changed."""

    form = AdjustmentLimitAddForm
    list_display = ("amount_display", "effective_from")

    def get_fields(self, request, obj=None):
        return ("amount_yuan", "effective_from", "reason") if obj is None else ("amount_display", "effective_from")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("amount_display", "effective_from")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        limit = services.adjustment_limit_set(actor=request.user, amount=obj.amount,
                                              effective_from=data["effective_from"], reason=data["reason"])
        self._saved(obj, limit)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("at most, per adjustment (yuan)"), ordering="amount")
    def amount_display(self, limit):
        return yuan(limit.amount)


# --- ledger, purses, audit: read-only -----------------------------------------------

@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("code", "name", "kind", "normal", "balance_display", "operator")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    fields = ("code", "name", "kind", "normal", "balance_display", "operator", "created_at")
    readonly_fields = fields

    @admin.display(description=_("balance (yuan)"), ordering="balance")
    def balance_display(self, account):
        return yuan(account.balance)


@admin.register(Purse)
class PurseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("account", "holder_link", "balance_display", "card_balance_display", "pending_display",
                    "card_counter", "card_seen_at")
    list_select_related = ("account", "holder")
    search_fields = ("account__code", "holder__number")
    fields = ("account", "holder_link", "balance_display", "card_balance_display", "pending_display",
              "card_counter", "card_seen_at")
    readonly_fields = fields

    @admin.display(description=_("cardholder"))
    def holder_link(self, purse):
        return _link(purse.holder) if purse.holder_id else _("anonymous")

    @admin.display(description=_("Account balance (库, yuan)"), ordering="account__balance")
    def balance_display(self, purse):
        return yuan(purse.account.balance)

    @admin.display(description=_("Last card balance (卡, yuan)"), ordering="card_balance")
    def card_balance_display(self, purse):
        return yuan(purse.card_balance)

    @admin.display(description=_("Pending credit (过渡余额, yuan)"), ordering="pending")
    def pending_display(self, purse):
        return yuan(purse.pending)


class PostingInline(ReadOnlyMixin, admin.TabularInline):
    model = Posting
    extra = 0
    can_delete = False
    fields = ("account", "debit", "credit")
    readonly_fields = fields

    @admin.display(description=_("debit (yuan)"))
    def debit(self, posting):
        return yuan(posting.amount) if posting.amount > 0 else ""

    @admin.display(description=_("credit (yuan)"))
    def credit(self, posting):
        return yuan(-posting.amount) if posting.amount < 0 else ""


@admin.register(Journal)
class JournalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "business_day", "amount_display", "actor", "reason", "created_at")
    list_filter = ("kind", "business_day")
    list_select_related = ("actor",)
    search_fields = ("reason", "source")
    date_hierarchy = "business_day"
    fields = ("kind", "business_day", "created_at", "actor", "reason", "source")
    readonly_fields = fields
    inlines = [PostingInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(debit_total=Sum("postings__amount", filter=Q(postings__amount__gt=0)))

    @admin.display(description=_("amount (yuan)"), ordering="debit_total")
    def amount_display(self, journal):
        return yuan(journal.debit_total or 0)


class _LabelledFilter(admin.SimpleListFilter):
    """A filter over a code column that lists the codes present by their labels."""

    label_of = staticmethod(str)

    def lookups(self, request, model_admin):
        codes = model_admin.get_queryset(request).order_by().values_list(self.parameter_name, flat=True).distinct()
        return sorted(((c, self.label_of(c)) for c in codes), key=lambda x: str(x[1]))

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class AuditChannelFilter(_LabelledFilter):
    title, parameter_name = _("channel"), "channel"
    label_of = staticmethod(admin_views.audit_channel_label)


class AuditActionFilter(_LabelledFilter):
    title, parameter_name = _("action"), "action"
    label_of = staticmethod(admin_views.audit_action_label)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "action_display", "channel_display", "actor", "holder_link", "card_link", "reason")
    list_filter = (AuditChannelFilter, AuditActionFilter)
    list_select_related = ("actor", "holder", "card")
    search_fields = ("reason",)  # see get_search_results
    search_help_text = _("Card number, staff/student number or words of the reason.")
    date_hierarchy = "at"
    fields = ("at", "action_display", "channel_display", "actor", "holder_link", "card_link", "journal", "reason",
              "details")
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        cond = Q(reason__icontains=term) | Q(holder__number__iexact=term)
        if (card_no := card_no_param(term)) is not None:
            cond |= Q(card__card_no=card_no)
        return queryset.filter(cond), False

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, entry):
        return admin_views.audit_action_label(entry.action)

    @admin.display(description=_("channel"), ordering="channel")
    def channel_display(self, entry):
        return admin_views.audit_channel_label(entry.channel)

    @admin.display(description=_("cardholder"))
    def holder_link(self, entry):
        return _link(entry.holder)

    @admin.display(description=_("card"))
    def card_link(self, entry):
        return _link(entry.card)

    @admin.display(description=_("details"))
    def details(self, entry):
        return admin_views.audit_details(entry.data)


@admin.register(BlockListEntry)
class BlockListEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("version", "card_no", "op", "reason_display", "at")
    list_filter = ("op",)
    search_fields = ("card_no",)  # see get_search_results
    fields = ("version", "card_no", "op", "reason_display", "at")
    readonly_fields = fields

    @admin.display(description=_("reason"), ordering="reason")
    def reason_display(self, entry):
        # The reason is the status the card became (services._set_status).
        return CardStatus(entry.reason).label if entry.reason in CardStatus.values else entry.reason

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if (card_no := card_no_param(term)) is not None:
            return queryset.filter(card_no=card_no), False
        return queryset.none(), False
from . import subsidy_admin  # noqa: E402,F401  (registers the subsidy screens)
