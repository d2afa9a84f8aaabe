"""Template filters the fronts share: money in yuan (two decimals), never a float."""

from django import template

from accounts.formatting import yuan as _yuan

register = template.Library()


@register.filter
def yuan(fen) -> str:
    return _yuan(fen)


@register.inclusion_tag("admin/cc_dashboard.html", takes_context=True)
def card_centre_dashboard(context):
    """The staff dashboard on the admin index: centre-wide figures, so only for staff who may see
    terminal records (card centre, finance, super admin); a cash operator sees its own cash only."""
    from campuscard.dashboard import dashboard_data

    request = context.get("request")
    if request is None or not request.user.is_staff or not request.user.has_perm("terminals.view_record"):
        return {"show": False}
    return {"show": True, **dashboard_data()}
