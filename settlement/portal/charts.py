"""A bar chart as plain data for an inline SVG (no JavaScript, no CDN)."""

from __future__ import annotations

from accounts.formatting import yuan

WIDTH, HEIGHT = 600, 180


def bar_chart(points: list[tuple[str, int]]) -> dict:
    """points: [(label, amount in fen)] -> bars with x, y, w, h in a 600×180 viewBox."""
    top = max((v for _, v in points), default=0) or 1
    n = max(len(points), 1)
    slot = WIDTH / n
    bars = []
    for i, (label, value) in enumerate(points):
        h = round(HEIGHT * value / top, 1)
        bars.append({"x": round(i * slot + slot * 0.1, 1), "y": round(HEIGHT - h, 1), "w": round(slot * 0.8, 1),
                     "h": h, "label": label, "value": yuan(value)})
    ticks = [bars[i] for i in sorted({0, n // 2, n - 1})] if points else []
    return {"bars": bars, "ticks": ticks, "max": yuan(max((v for _, v in points), default=0)),
            "width": WIDTH, "height": HEIGHT, "total": yuan(sum(v for _, v in points))}
