"""Tables that read on a phone: each body cell carries its column's heading.

`label_cells` is applied by `render` to every page, so a template writes a plain table
(headings in `<thead>`) and gets, with no markup of its own:

* `data-label="<column heading>"` on each cell of `<tbody>` and `<tfoot>` that spans one
  column and whose heading shows text (a heading only screen readers get gives no label),
  which portal.css shows before the value when a narrow screen stacks the table's rows into
  cards (below 40rem);
* on a `<div class="table-scroll">` wrapping a table, `role="group"`, `tabindex="0"` and
  the table's name, so that a box still scrolling sideways (between phone and desktop sizes)
  can be reached and scrolled with the keyboard and is announced (portal.js takes the stop
  away where the table fits).

A cell that already has `data-label` keeps it (a template may say it better). Templates are
ours and autoescaped, so a tag never holds a raw `>` and a tokenizer of tags is enough.
Tests reading a page's HTML should match cells by their text (or allow attributes), since
cells gain `data-label`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

# Templates write tags in lowercase; matching case-sensitively keeps the scan cheap.
_TAG = re.compile(r"<(/?)(table|thead|tbody|tfoot|tr|th|td)\b([^>]*)>")
_MARKUP = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r'<span class="visually-hidden">.*?</span>', re.DOTALL)
_SPACES = re.compile(r"\s+")
_COLSPAN = re.compile(r"""\bcolspan\s*=\s*["']?(\d+)""", re.IGNORECASE)
_SCROLL_BOX = re.compile(
    r'<div class="table-scroll">(\s*)<table\b([^>]*)>(\s*<caption\b[^>]*>(.*?)</caption>)?',
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTE = r"""\b{name}\s*=\s*"([^"]*)\""""


@dataclass
class _Table:
    headings: list[str] = field(default_factory=list)
    section: str = ""
    column: int = 0
    heading_from: int | None = None
    heading_span: int = 1


def text_of(fragment: str) -> str:
    """The words of an HTML fragment, as a label: tags dropped, entities read, spaces folded."""
    return _SPACES.sub(" ", html.unescape(_MARKUP.sub(" ", fragment))).strip()


def _span(attributes: str) -> int:
    found = _COLSPAN.search(attributes)
    return max(1, int(found.group(1))) if found else 1


def _label_cells(page: str) -> str:
    out: list[str] = []
    tables: list[_Table] = []
    last = 0
    for match in _TAG.finditer(page):
        closing, name, attributes = match.group(1), match.group(2).lower(), match.group(3)
        tag = match.group(0)
        if name == "table" and not closing:
            tables.append(_Table())
        elif name == "table":
            if tables:
                tables.pop()
        elif not tables:
            pass
        elif name in ("thead", "tbody", "tfoot"):
            tables[-1].section = "" if closing else name
        elif name == "tr" and not closing:
            tables[-1].column = 0
        elif tables[-1].section == "thead" and name == "th":
            table = tables[-1]
            if not closing:
                table.heading_from, table.heading_span = match.end(), _span(attributes)
            elif table.heading_from is not None:
                heading = text_of(_HIDDEN.sub("", page[table.heading_from : match.start()]))
                table.headings.extend([heading] * table.heading_span)
                table.heading_from = None
        elif tables[-1].section in ("tbody", "tfoot") and not closing:
            table, span = tables[-1], _span(attributes)
            label = table.headings[table.column] if table.column < len(table.headings) else ""
            if span == 1 and label and "data-label" not in tag:
                label = html.escape(label, quote=True)
                tag = f'<{match.group(2)}{attributes} data-label="{label}">'
            table.column += span
        out.append(page[last : match.start()])
        out.append(tag)
        last = match.end()
    out.append(page[last:])
    return "".join(out)


def _name_scroll_box(match: re.Match[str]) -> str:
    space, attributes, caption, caption_text = match.groups()
    label = re.search(_ATTRIBUTE.format(name="aria-label"), attributes)
    labelled_by = re.search(_ATTRIBUTE.format(name="aria-labelledby"), attributes)
    if label:
        name = f'aria-label="{label.group(1)}"'
    elif labelled_by:
        name = f'aria-labelledby="{labelled_by.group(1)}"'
    elif caption_text and text_of(caption_text):
        name = f'aria-label="{html.escape(text_of(caption_text), quote=True)}"'
    else:
        name = 'aria-label="Table"'
    return (
        f'<div class="table-scroll" role="group" tabindex="0" {name}>'
        f"{space}<table{attributes}>{caption or ''}"
    )


def label_cells(page: str) -> str:
    """`page` with its table cells labelled and its scrolling table boxes named (see above)."""
    if "<table" not in page:
        return page
    return _SCROLL_BOX.sub(_name_scroll_box, _label_cells(page))
