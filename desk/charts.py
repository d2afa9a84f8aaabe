"""Today beside yesterday, hour by hour, as plain data for an inline SVG (no JavaScript)."""

from __future__ import annotations

from accounts.formatting import yuan

WIDTH, HEIGHT = 720, 200


def hourly_pair_chart(today: list[dict], yesterday: list[dict]) -> dict:
    """today, yesterday: [{hour, count, amount}] × 24 -> two bars per hour in a 720×200 viewBox."""
    top = max([r["amount"] for r in today] + [r["amount"] for r in yesterday] + [1])
    slot = WIDTH / 24
    bars = []
    for t, y in zip(today, yesterday):
        for offset, row, series in ((0.12, y, "yesterday"), (0.5, t, "today")):
            h = round(HEIGHT * row["amount"] / top, 1)
            bars.append({"x": round(t["hour"] * slot + slot * offset, 1), "y": round(HEIGHT - h, 1),
                         "w": round(slot * 0.38, 1), "h": h, "series": series, "hour": t["hour"],
                         "value": yuan(row["amount"]), "count": row["count"]})
    ticks = [{"x": round(h * slot + slot / 2, 1), "label": f"{h:02d}"} for h in range(0, 24, 3)]
    return {"bars": bars, "ticks": ticks, "width": WIDTH, "height": HEIGHT, "max": yuan(top if top > 1 else 0),
            "today_total": yuan(sum(r["amount"] for r in today)),
            "yesterday_total": yuan(sum(r["amount"] for r in yesterday)),
            "today_count": sum(r["count"] for r in today), "yesterday_count": sum(r["count"] for r in yesterday)}
