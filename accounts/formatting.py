"""Money for people: the system stores integer fen (分); people read and type yuan (元)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def yuan(fen: int | None) -> str:
    """12345 -> "123.45", -5 -> "-0.05"; integer arithmetic only, never a float."""
    if fen is None:
        return ""
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def fen_from_yuan(value: Decimal | str) -> int:
    """Decimal("12.34") -> 1234. Refuses more than two decimals rather than rounding."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{value!r} is not an amount in yuan") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount in yuan")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{value!r} has more than two decimals")
    return int(fen)
