"""Hand-written inline SVG charts for reports: small, self-contained, and sharp when printed.

Each function returns one `<svg>` element sized by its viewBox, so it scales to the
page width on screen and on paper. All text placed in a chart goes through `esc`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.report.page import esc, percent, points

UP, DOWN, INK, MUTED, LINE, ACCENT = "#1f7a4d", "#b83232", "#1d2433", "#5b6475", "#d9dee7", "#2457a6"
LOW_COLOUR, HIGH_COLOUR, NEUTRAL = (36, 87, 166), (184, 50, 50), "#9aa3b2"


def _svg(width: float, height: float, body: str, label: str, cls: str) -> str:
    return (f'<svg class="{cls}" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>{body}</svg>')


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 12,
          fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{esc(content)}</text>')


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    span = max(high - low, 1e-9)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step) + 1)]


def tick_label(value: float, step: float) -> str:
    """A tick in percent with as many decimals as its step needs: '0%', '2.5%', '10%'."""
    decimals = max(0, -math.floor(math.log10(100 * step) + 1e-9)) if step > 0 else 0
    if decimals == 0 and not float(round(100 * step, 6)).is_integer():
        decimals = 1
    return f"{100 * value:.{decimals}f}%"


@dataclass(frozen=True)
class Scale:
    """A linear map from data values to pixels."""

    low: float
    high: float
    start: float
    length: float

    def __call__(self, value: float) -> float:
        """The pixel position of `value`."""
        return self.start + self.length * (value - self.low) / ((self.high - self.low) or 1.0)


def _percent_axis(ticks: Sequence[float], x: Scale, top: float, bottom: float) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 0.0
    parts = []
    for t in ticks:
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 4}" y2="{bottom}" stroke="{LINE}"/>')
        parts.append(_text(x(t), top - 8, tick_label(t, step), anchor="middle", size=11, fill=MUTED))
    return "".join(parts)


def _total_bar(x: Scale, y: float, text: str, probability: float) -> str:
    return (_text(x.start - 8, y + 16, _shorten(text, 44), anchor="end", weight="bold")
            + f'<rect x="{x(0.0):.1f}" y="{y + 5}" width="{x(probability) - x(0.0):.1f}" height="14" '
            f'fill="{ACCENT}" opacity=".35"/>' + _text(x(probability) + 6, y + 16, percent(probability),
                                                     weight="bold"))


def _step_bar(x: Scale, y: float, text: str, start: float, delta: float, right: float) -> str:
    colour = UP if delta >= 0 else DOWN
    x0, x1 = sorted((x(start), x(start + delta)))
    return (_text(x.start - 8, y + 16, _shorten(text, 44), anchor="end")
            + f'<rect x="{x0:.1f}" y="{y + 5}" width="{max(x1 - x0, 1):.1f}" height="14" fill="{colour}">'
            f"<title>{esc(text)}: {points(delta)}</title></rect>"
            + _text(right, y + 16, points(delta), anchor="end", fill=colour))


def waterfall(base: float, steps: Sequence[tuple[str, float]], final: float, label: str) -> str:
    """From the base probability, each factor's probability points, to the proposal's probability."""
    left, plot, right, row_h, top = 290, 320, 76, 24, 28
    cumulative = np.cumsum([base, *[d for _, d in steps]])
    ticks = nice_ticks(min(0.0, float(cumulative.min())), float(max(cumulative.max(), final, base)) * 1.05)
    x = Scale(ticks[0], ticks[-1], left, plot)
    bottom = top + row_h * (len(steps) + 2)
    parts = [_percent_axis(ticks, x, top, bottom), _total_bar(x, top, "Average proposal (base)", base)]
    for i, (text, delta) in enumerate(steps, start=1):
        parts.append(_step_bar(x, top + i * row_h, text, float(cumulative[i - 1]), delta,
                               left + plot + right - 4))
    parts.append(_total_bar(x, bottom - row_h, "This proposal", final))
    return _svg(left + plot + right, bottom + 8, "".join(parts), label, "waterfall")


def importance_bars(rows: Sequence[tuple[str, float, str]], label: str) -> str:
    """Horizontal bars of mean absolute contribution (log-odds), with the direction as text."""
    left, plot, right, row_h, top = 260, 300, 170, 22, 8
    high = max((v for _, v, _ in rows), default=1.0) or 1.0
    parts = []
    for i, (text, value, direction) in enumerate(rows):
        y = top + i * row_h
        parts.append(_text(left - 8, y + 15, _shorten(text, 40), anchor="end"))
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot * value / high:.1f}" height="14" '
                     f'fill="{ACCENT}"/>')
        parts.append(_text(left + plot * value / high + 6, y + 15, f"{value:.2f}  {direction}",
                           size=11, fill=MUTED))
    return _svg(left + plot + right, top + row_h * len(rows) + 6, "".join(parts), label, "importance")


@dataclass(frozen=True)
class SwarmRow:
    """One feature's contributions over a sample, with each proposal's value scaled to 0-1."""

    label: str
    contributions: np.ndarray  # log-odds
    shade: np.ndarray  # 0 (low) to 1 (high), nan where the value is missing or a category


def _colour(shade: float) -> str:
    if not math.isfinite(shade):
        return NEUTRAL
    r, g, b = (round(lo + (hi - lo) * shade) for lo, hi in zip(LOW_COLOUR, HIGH_COLOUR, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _swarm_offsets(xs: np.ndarray, diameter: float, limit: float) -> np.ndarray:
    """Vertical offsets that stack points sharing a horizontal bin, alternating up and down."""
    bins = np.floor(xs / diameter).astype(int)
    offsets = np.zeros(len(xs))
    seen: dict[int, int] = {}
    for i in np.argsort(xs, kind="stable"):
        k = seen.get(int(bins[i]), 0)
        seen[int(bins[i])] = k + 1
        step = (k + 1) // 2 * (1 if k % 2 else -1) * diameter * 0.8
        offsets[i] = max(-limit, min(limit, step))
    return offsets


def beeswarm(rows: Sequence[SwarmRow], label: str) -> str:
    """SHAP-style summary: one dot per proposal and feature, placed at its contribution."""
    left, plot, right, row_h, top = 250, 520, 20, 40, 24
    extent = max((float(np.abs(r.contributions).max()) for r in rows if r.contributions.size), default=1.0)
    extent = extent * 1.05 or 1.0
    x = Scale(-extent, extent, left, plot)
    bottom = top + row_h * len(rows)
    parts = [f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 6}" y2="{bottom}" stroke="{MUTED}"/>']
    for t in nice_ticks(-extent, extent, 6):
        if abs(t) <= extent:
            parts.append(_text(x(t), top - 10, f"{t:+.1f}" if t else "0", anchor="middle", size=10,
                               fill=MUTED))
    for i, row in enumerate(rows):
        centre = top + i * row_h + row_h / 2
        parts.append(_text(left - 8, centre + 4, _shorten(row.label, 40), anchor="end"))
        parts.append(f'<line x1="{left}" x2="{left + plot}" y1="{centre}" y2="{centre}" stroke="{LINE}"/>')
        xs = np.array([x(v) for v in row.contributions])
        ys = centre + _swarm_offsets(xs, 3.0, row_h / 2 - 3)
        parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="1.7" fill="{_colour(s)}"/>'
                  for a, b, s in zip(xs, ys, row.shade, strict=True)]
    parts.append(_legend(left, bottom + 18))
    return _svg(left + plot + right, bottom + 30, "".join(parts), label, "beeswarm")


def _legend(x: float, y: float) -> str:
    items = [(_colour(0.0), "low value"), (_colour(1.0), "high value"),
             (NEUTRAL, "category or missing")]
    parts = []
    for i, (colour, text) in enumerate(items):
        parts.append(f'<circle cx="{x + i * 140 + 5}" cy="{y - 4}" r="4" fill="{colour}"/>')
        parts.append(_text(x + i * 140 + 14, y, text, size=11, fill=MUTED))
    return "".join(parts)


def reliability(rows: Sequence[dict[str, float]], label: str) -> str:
    """Predicted against observed rate per bin, dot area by count, with the diagonal."""
    size, pad = 320, 50
    high = max([0.05, *[max(r["predicted"], r["observed"]) for r in rows]])
    ticks = nice_ticks(0.0, high, 5)
    step = ticks[1] - ticks[0]
    s = Scale(0.0, ticks[-1], 0.0, size)
    parts = []
    for t in ticks:
        parts.append(f'<line x1="{pad + s(t):.1f}" x2="{pad + s(t):.1f}" y1="{pad}" y2="{pad + size}" '
                     f'stroke="{LINE}"/><line x1="{pad}" x2="{pad + size}" y1="{pad + size - s(t):.1f}" '
                     f'y2="{pad + size - s(t):.1f}" stroke="{LINE}"/>')
        parts.append(_text(pad + s(t), pad + size + 16, tick_label(t, step), anchor="middle", size=11,
                           fill=MUTED))
        parts.append(_text(pad - 6, pad + size - s(t) + 4, tick_label(t, step), anchor="end", size=11,
                           fill=MUTED))
    parts.append(f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" stroke="{MUTED}" '
                 'stroke-dasharray="4 4"/>')
    most = max([1.0, *[r["count"] for r in rows]])
    coords = [(pad + s(r["predicted"]), pad + size - s(r["observed"]), r) for r in rows]
    if coords:
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b, _ in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{ACCENT}" stroke-width="1.5"/>')
    for a, b, r in coords:
        radius = 3 + 5 * math.sqrt(r["count"] / most)
        tip = (f"predicted {percent(r['predicted'])}, observed {percent(r['observed'])}, "
               f"{r['count']} proposals")
        parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{radius:.1f}" fill="{ACCENT}" '
                     f'fill-opacity=".6"><title>{esc(tip)}</title></circle>')
    parts.append(_text(pad + size / 2, pad + size + 34, "predicted probability", anchor="middle", size=11))
    parts.append(f'<text x="12" y="{pad + size / 2}" font-size="11" text-anchor="middle" fill="{INK}" '
                 f'transform="rotate(-90 12 {pad + size / 2})">observed rate</text>')
    return _svg(size + pad + 20, size + pad + 44, "".join(parts), label, "reliability")
