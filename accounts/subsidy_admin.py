"""Subsidy screens in the back office: import a list (check, preview, file), the batch with its
lines and the second person's approve/reject, and the list of every subsidy. Each button calls
one service in accounts.subsidies; rows are never edited here."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import subsidies
from .admin import ReadOnlyMixin, YuanFieldsMixin
from .errors import BusinessError
from .formatting import yuan
from .forms import SubsidyDecideForm, SubsidyImportForm
from .imports import BatchRejected
from .parsing import int_param
from .subsidy_models import SUBSIDY_MERCHANT_KINDS, SubsidyBatch, SubsidyLine

PREVIEW_SALT = "accounts.subsidy-preview"
PREVIEW_MAX_AGE = 3600  # seconds a checked list may wait for its "file" click


def kinds_label(codes) -> str:
    labels = dict(SUBSIDY_MERCHANT_KINDS)
    return "、".join(str(labels.get(c, c)) for c in codes) if codes else gettext("Every top-up point")


@admin.register(SubsidyBatch)
class SubsidyBatchAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "reason", "status", "rows", "total", "expires_on", "kinds_display", "filed_by",
                    "filed_at", "decided_by")
    list_filter = ("status",)
    list_select_related = ("filed_by", "decided_by")
    search_fields = ("reason", "filename")
    fields = ("reason", "status", "rows", "total", "expires_on", "kinds_display", "filename", "filed_by", "filed_at",
              "decided_by", "decided_at", "decision_note", "journal")
    readonly_fields = fields
    yuan_fields = ("total",)
    change_list_template = "admin/accounts/subsidybatch/change_list.html"
    change_form_template = "admin/accounts/subsidybatch/change_form.html"

    @admin.display(description=_("Claimable at"))
    def kinds_display(self, batch):
        return kinds_label(batch.merchant_kinds)

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:accounts_subsidybatch_import"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": request.user.has_perm("accounts.add_subsidybatch")}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["lines"] = obj.lines.select_related("holder").order_by("row_no")[:200]
            context["lines_url"] = reverse("admin:accounts_subsidyline_changelist") + f"?batch__id__exact={obj.pk}"
            context["can_decide"] = (obj.status == SubsidyBatch.Status.PENDING
                                     and request.user.has_perm("accounts.approve_subsidybatch")
                                     and obj.filed_by_id != request.user.pk)
            context["decide_form"] = SubsidyDecideForm()
            context["decide_url"] = reverse("admin:accounts_subsidybatch_decide", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        site = self.admin_site
        return [
            path("import/", site.admin_view(lambda r: subsidy_import_view(self, r)), name="accounts_subsidybatch_import"),
            path("<path:object_id>/decide/", site.admin_view(lambda r, object_id: subsidy_decide_view(self, r, object_id)),
                 name="accounts_subsidybatch_decide"),
            *super().get_urls(),
        ]


@admin.register(SubsidyLine)
class SubsidyLineAdmin(YuanFieldsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("batch", "row_no", "holder", "amount", "expires_on", "status", "claimed_at", "expired_at")
    list_filter = ("status",)
    list_select_related = ("batch", "holder")
    search_fields = ("holder__number", "holder__name")
    fields = ("batch", "row_no", "holder", "amount", "reason", "expires_on", "status", "claimed_at",
              "claim_terminal_id", "claim_journal", "expired_at", "expire_journal")
    readonly_fields = fields
    yuan_fields = ("amount",)


def _batch_url(batch) -> str:
    return reverse("admin:accounts_subsidybatch_change", args=[batch.pk])


def subsidy_import_view(model_admin, request):
    """Step 1 (check): read the file, check every row and the terms, show the lines and the errors;
    nothing is written. Step 2 (file): the checked list comes back signed and is filed."""
    if not request.user.has_perm("accounts.add_subsidybatch"):
        raise PermissionDenied
    form, preview, payload, problems = SubsidyImportForm(), None, None, None
    if request.method == "POST" and request.POST.get("payload"):
        try:
            data = signing.loads(request.POST["payload"], salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
            batch = subsidies.subsidy_batch_file(
                actor=request.user, rows=data["rows"], reason=data["reason"],
                expires_on=dt.date.fromisoformat(data["expires_on"]), merchant_kinds=data["kinds"],
                filename=data["filename"])
        except signing.BadSignature:
            messages.error(request, gettext("The checked list has expired; upload the file again."))
        except BatchRejected as exc:
            problems = exc.row_errors
            messages.error(request, gettext("Some rows no longer pass the checks; nothing was filed."))
        except BusinessError as exc:
            messages.error(request, " ".join(str(m) for m in exc.messages))
        else:
            messages.success(request, ngettext(
                "Subsidy batch #%(id)s filed: %(n)d line, %(total)s yuan. Another person approves it.",
                "Subsidy batch #%(id)s filed: %(n)d lines, %(total)s yuan. Another person approves it.", batch.rows,
            ) % {"id": batch.pk, "n": batch.rows, "total": yuan(batch.total)})
            return HttpResponseRedirect(_batch_url(batch))
    elif request.method == "POST":
        form = SubsidyImportForm(request.POST, request.FILES)
        if form.is_valid():
            d = form.cleaned_data
            try:
                subsidies.subsidy_terms_check(reason=d["reason"], expires_on=d["expires_on"], merchant_kinds=d["merchant_kinds"])
                rows = subsidies.subsidy_file_read(content=d["file"].read(), filename=d["file"].name)
            except BusinessError as exc:
                form.add_error(None, " ".join(str(m) for m in exc.messages))
            else:
                preview = subsidies.subsidy_rows_check(rows=rows, expires_on=d["expires_on"])
                problems = preview.problems
                if not problems:
                    payload = signing.dumps({"rows": rows, "reason": d["reason"], "expires_on": d["expires_on"].isoformat(),
                                             "kinds": d["merchant_kinds"], "filename": d["file"].name[:200]},
                                            salt=PREVIEW_SALT, compress=True)
                    preview.terms = {"reason": d["reason"], "expires_on": d["expires_on"],
                                     "kinds": kinds_label(d["merchant_kinds"])}
    opts = SubsidyBatch._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Import subsidy list"), "opts": opts, "app_label": opts.app_label,
        "form": form, "preview": preview, "payload": payload, "problems": problems,
        "total": yuan(preview.total) if preview else "",
        "lines": [{**line, "amount": yuan(line["amount"])} for line in preview.lines] if preview else [],
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/accounts/subsidybatch/import.html", context)


def subsidy_decide_view(model_admin, request, object_id):
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:accounts_subsidybatch_change", args=[object_id]))
    if not request.user.has_perm("accounts.approve_subsidybatch"):
        raise PermissionDenied
    pk = int_param(unquote(object_id))
    batch = SubsidyBatch.objects.filter(pk=pk).first() if pk else None
    if batch is None:
        raise Http404
    form = SubsidyDecideForm(request.POST)
    form.is_valid()
    approve = "approve" in request.POST
    try:
        subsidies.subsidy_batch_decide(actor=request.user, batch=batch, approve=approve,
                                       note=form.cleaned_data.get("note", ""))
    except BusinessError as exc:  # BatchRejected too: its message names the rows
        messages.error(request, " ".join(str(m) for m in exc.messages))
    else:
        messages.success(request, gettext("Approved: every line is issued to its holder.") if approve
                         else gettext("Rejected."))
    return HttpResponseRedirect(_batch_url(batch))
