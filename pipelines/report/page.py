"""The HTML shell of reports: one self-contained page, its style sheet, and small builders.

Everything a report shows from data passes through `esc`: proposal names, ids,
sectors and descriptions come from users and may hold markup. The page carries a
Content-Security-Policy that allows no script and no request at all, so a mistake
elsewhere still cannot make the file run code or reach the network.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
:root { --ink: #1d2433; --muted: #5b6475; --line: #d9dee7; --up: #1f7a4d; --down: #b83232;
        --soft: #f4f6f9; --accent: #2457a6; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.08rem; margin: 1.2rem 0 .4rem; }
h4, h5, h6 { font-size: 1rem; margin: 1rem 0 .3rem; }
p { margin: .35rem 0; }
.meta { color: var(--muted); }
.note { background: var(--soft); border-left: 4px solid var(--accent); padding: .5rem .8rem;
        margin: .6rem 0; }
.warning { background: #fff4e5; border-left: 4px solid #c77700; padding: .5rem .8rem; margin: .6rem 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: .4rem 0 .8rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.capacity-edge td { border-bottom: 3px solid var(--accent); }
ul.reasons { list-style: none; padding: 0; margin: 0; }
ul.reasons li { margin: 0 0 .15rem; }
.up { color: var(--up); }
.down { color: var(--down); }
.pts { font-variant-numeric: tabular-nums; white-space: nowrap; font-size: .85em; }
.grade { display: inline-block; min-width: 1.7em; text-align: center; font-weight: 700; border-radius: 4px;
         padding: 0 .3em; color: #fff; }
.grade-A { background: #1f7a4d; } .grade-B { background: #5a8f29; }
.grade-C { background: #c77700; } .grade-D { background: #8a94a6; }
.flag { display: inline-block; background: #fff4e5; color: #7a4a00; border: 1px solid #f0c987;
        border-radius: 4px; padding: 0 .35em; margin: 0 .2em .2em 0; font-size: .82em; }
.in-capacity { font-size: .8em; color: var(--accent); font-weight: 600; }
article.proposal { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; margin: 1rem 0; }
article.proposal h3 { margin-top: 0; }
.probability { font-size: 1.5rem; font-weight: 700; }
.columns { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.2rem; }
.evidence { color: var(--muted); font-size: .85em; display: block; }
figure { margin: .4rem 0; }
figcaption { color: var(--muted); font-size: .85rem; }
svg { max-width: 100%; height: auto; display: block; }
svg text { font-family: inherit; }
nav.toc a { margin-right: 1rem; }
a { color: var(--accent); }
code { background: var(--soft); padding: 0 .25em; border-radius: 3px; font-size: .9em;
       overflow-wrap: anywhere; }
blockquote { margin: .5rem 0; padding: .3rem .8rem; border-left: 4px solid #c77700; background: #fff4e5; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav.toc { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; }
  article.proposal, figure, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .columns { grid-template-columns: 1fr; gap: .4rem; }
  svg.waterfall { max-width: 170mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def esc(value: object) -> str:
    """Text made safe to place in HTML or SVG content and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def percent(probability: float) -> str:
    """A probability for people: '27%', or '7.6%' below ten percent."""
    value = 100 * probability
    return f"{value:.1f}%" if value < 9.95 else f"{value:.0f}%"


def points(delta: float) -> str:
    """A change in probability points, signed: '+4.1 pts'."""
    return f"{100 * delta:+.1f} pts"


def number(value: float | int | None, digits: int = 3) -> str:
    """A metric for tables; a dash where it is missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (),
          row_attrs: Sequence[str] | None = None, cls: str = "") -> str:
    """A table whose header names are plain text and whose cells are already HTML."""
    def cell(tag: str, i: int, content: str) -> str:
        return f"<{tag}{' class=num' if i in numeric else ''}>{content}</{tag}>"

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(headers))
    attrs = row_attrs or [""] * len(rows)
    body = "".join(f"<tr{a}>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>"
                   for r, a in zip(rows, attrs, strict=True))
    klass = f" class={cls}" if cls else ""
    return (f"<div class=scroll><table{klass}><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document: no script, no external resource."""
    return ("<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name=viewport content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(.+?)\*\*")


def inline_markdown(text: str) -> str:
    """Escaped text with `code` and **bold** made into HTML."""
    return _STRONG.sub(r"<strong>\1</strong>", _CODE.sub(r"<code>\1</code>", esc(text)))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _md_table(lines: list[str]) -> str:
    rows = [_cells(x) for x in lines if not re.fullmatch(r"\|?[\s|:-]+\|?", x.strip())]
    if not rows:
        return ""
    head = "".join(f"<th>{inline_markdown(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{inline_markdown(c)}</td>" for c in r) + "</tr>"
                   for r in rows[1:])
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _md_block(kind: str, lines: list[str], shift: int) -> str:
    if kind == "table":
        return _md_table(lines)
    if kind == "list":
        return "<ul>" + "".join(f"<li>{inline_markdown(x[2:])}</li>" for x in lines) + "</ul>"
    if kind == "quote":
        return "<blockquote>" + "<br>".join(inline_markdown(x.lstrip("> ")) for x in lines) + "</blockquote>"
    if kind == "heading":
        level = len(lines[0]) - len(lines[0].lstrip("#"))
        tag = f"h{min(6, level + shift)}"
        return f"<{tag}>{inline_markdown(lines[0][level:].strip())}</{tag}>"
    return "<p>" + inline_markdown(" ".join(lines)) + "</p>"


def _kind(line: str) -> str:
    stripped = line.strip()
    if re.match(r"#{1,6} ", stripped):
        return "heading"
    if stripped.startswith("|"):
        return "table"
    if stripped.startswith("- "):
        return "list"
    if stripped.startswith(">"):
        return "quote"
    return "blank" if not stripped else "text"


def markdown_to_html(text: str, *, shift: int = 0) -> str:
    """The Markdown subset model cards use: headings, tables, bullet lists, quotes, paragraphs.

    Every piece of text is escaped; headings move down `shift` levels so the card
    nests under the report's own headings.
    """
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        kind = _kind(line)
        if blocks and kind == blocks[-1][0] and kind not in ("heading", "blank"):
            blocks[-1][1].append(line.strip())
        else:
            blocks.append((kind, [line.strip()]))
    return "\n".join(_md_block(kind, lines, shift) for kind, lines in blocks
                     if kind != "blank" and any(lines))
