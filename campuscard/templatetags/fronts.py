"""Template filters the fronts share: money in yuan (two decimals), never a float."""

from django import template

from accounts.formatting import yuan as _yuan

register = template.Library()


@register.filter
def yuan(fen) -> str:
    return _yuan(fen)
