"""Freshmen and staff intake at the desk: upload, see every row checked, confirm, watch the
progress bar while the holders are written, then download the card-production file."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import intake as intake_services
from accounts.errors import BusinessError, NotAllowed
from accounts.imports import MAX_ROWS
from accounts.models import Cardholder, Category, Intake, IntakeRow

from .access import desk_view
from .forms import IntakeUploadForm

PAGE = 200


def _errors(exc: BusinessError) -> str:
    return " ".join(str(m) for m in exc.messages)


@desk_view("accounts.add_intake")
@require_http_methods(["GET", "POST"])
def intake_list(request):
    form = IntakeUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload, photos = form.cleaned_data["file"], form.cleaned_data.get("photos")
        try:
            rows = intake_services.intake_file_rows(content=upload.read(), filename=upload.name)
            photo_files = intake_services.intake_photos_from_zip(photos.read()) if photos else {}
            intake = intake_services.intake_preview(actor=request.user, rows=rows, filename=upload.name,
                                                    photo_files=photo_files)
        except NotAllowed as exc:
            raise PermissionDenied(_errors(exc)) from exc
        except BusinessError as exc:
            form.add_error(None, _errors(exc))
        else:
            return redirect("desk:intake", pk=intake.pk)
    return render(request, "desk/intake_list.html", {
        "form": form, "intakes": Intake.objects.select_related("actor")[:30], "max_rows": MAX_ROWS,
    })


@desk_view("accounts.add_intake")
def intake_detail(request, pk: int):
    intake = get_object_or_404(Intake, pk=pk)
    lines = intake.lines.select_related("holder")
    show = request.GET.get("show", "")
    if show in IntakeRow.Action.values:
        lines = lines.filter(action=show)
    page = Paginator(lines.order_by("row_no"), PAGE).get_page(request.GET.get("page"))
    for line in page:
        category = line.data.get("category", "")
        line.category_label = Category(category).label if category in Category.values else category
        line.change_labels = [str(Cardholder._meta.get_field(k).verbose_name) for k in line.changes]
    counts = {a: 0 for a in IntakeRow.Action.values}
    for r in intake.lines.values("action").annotate(n=Count("id")):
        counts[r["action"]] = r["n"]
    return render(request, "desk/intake_detail.html", {
        "intake": intake, "page": page, "counts": counts, "show": show, "actions": IntakeRow.Action,
        "to_apply": counts["create"] + counts["update"] + counts["same"] - intake.rows_done,
    })


@desk_view("accounts.add_intake")
@require_POST
def intake_apply(request, pk: int):
    """One chunk per call when the progress bar asks (JSON); all of them for a plain form post."""
    intake = get_object_or_404(Intake, pk=pk)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        intake = intake_services.intake_apply(actor=request.user, intake=intake)
        while not wants_json and intake.status == Intake.Status.APPLYING:
            intake = intake_services.intake_apply(actor=request.user, intake=intake)
    except NotAllowed as exc:
        raise PermissionDenied(_errors(exc)) from exc
    except BusinessError as exc:
        if wants_json:
            return JsonResponse({"error": _errors(exc)}, status=400)
        messages.error(request, _errors(exc))
        return redirect("desk:intake", pk=pk)
    if wants_json:
        total = intake.rows_total - intake.rows_bad
        return JsonResponse({"status": intake.status, "done": intake.rows_done, "total": total,
                             "created": intake.created, "updated": intake.updated, "bad": intake.rows_bad})
    messages.success(request, _("The intake is applied: %(created)d holders created, %(updated)d updated.") % {
        "created": intake.created, "updated": intake.updated})
    return redirect("desk:intake", pk=pk)


@desk_view("accounts.add_intake")
@require_POST
def intake_cancel(request, pk: int):
    intake = get_object_or_404(Intake, pk=pk)
    try:
        intake_services.intake_cancel(actor=request.user, intake=intake)
    except BusinessError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, _("The intake is cancelled; nothing was written."))
    return redirect("desk:intake-list")


@desk_view("accounts.add_intake")
def intake_production(request, pk: int):
    intake = get_object_or_404(Intake, pk=pk)
    if intake.status != Intake.Status.DONE:
        raise Http404
    response = HttpResponse(intake_services.intake_production_zip(intake=intake), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="card-production-intake-{intake.pk}.zip"'
    return response


@desk_view("accounts.add_intake")
def intake_template(request):
    response = HttpResponse(intake_services.intake_template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="intake-template.csv"'
    return response
