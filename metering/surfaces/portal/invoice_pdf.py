"""An invoice as printed, rendered to PDF on the server with fpdf2 (pure Python).

`render` takes a `PrintedInvoice`, every text already formatted in the customer's locale and
the invoice's currency (`invoice_print` builds it), and lays it out on A4: the vendor, the
customer with its address and tax ids, the invoice's dates and status, its lines, tax and
totals. The built-in Helvetica is written in Windows-1252, which has the common currency
signs; a character outside it is replaced rather than failing the download. `download` is
the file as the portal and the console answer with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.responses import Response
from fpdf import FPDF
from fpdf.enums import XPos, YPos

ENCODING = "windows-1252"
SPACES = {"\u2009": " ", "\u202f": " ", "\u00a0": " "}


@dataclass(frozen=True)
class PrintedLine:
    name: str
    words: str
    quantity: str
    amount: str


@dataclass(frozen=True)
class PrintedInvoice:
    vendor: str
    title: str
    customer: str
    address: list[str]
    tax_ids: list[str]
    facts: list[tuple[str, str]]
    """(label, value): period, issued, due, status..."""
    lines: list[PrintedLine]
    totals: list[tuple[str, str]]
    """(label, amount): subtotal, each tax, total, amount due."""
    notes: list[str] = field(default_factory=list)


def _text(value: str) -> str:
    for char, replacement in SPACES.items():
        value = value.replace(char, replacement)
    return value.encode(ENCODING, errors="replace").decode(ENCODING)


class _Page(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.core_fonts_encoding = ENCODING
        self.footer_text = footer_text
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, _text(f"{self.footer_text} - page {self.page_no()}"), align="C")


def _row(pdf: FPDF, cells: list[tuple[str, float, str]], bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 10)
    for text, width, align in cells:
        pdf.cell(width, 7, _text(text), align=align)
    pdf.ln(7)


def render(printed: PrintedInvoice) -> bytes:
    """The PDF's bytes."""
    pdf = _Page(f"{printed.vendor}, {printed.title}")
    pdf.add_page()
    pdf.set_title(_text(printed.title))
    pdf.set_author(_text(printed.vendor))
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _text(printed.vendor), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, _text(printed.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Billed to", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    for text in [printed.customer, *printed.address, *printed.tax_ids]:
        pdf.cell(0, 5, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    for label, value in printed.facts:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(35, 6, _text(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, _text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    width = pdf.epw
    _row(pdf, [("Description", width - 70, "L"), ("Quantity", 30, "R"), ("Amount", 40, "R")], True)
    for line in printed.lines:
        _row(pdf, [(line.name, width - 70, "L"), (line.quantity, 30, "R"), (line.amount, 40, "R")])
        if line.words:
            pdf.set_font("Helvetica", "", 8)
            pdf.multi_cell(width - 70, 4, _text(line.words), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
    pdf.ln(2)
    for label, amount in printed.totals:
        _row(pdf, [(label, width - 40, "R"), (amount, 40, "R")], bold=label.startswith("Total"))
    for note in printed.notes:
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _text(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def download(printed: PrintedInvoice, number: int | None, invoice_id: str) -> Response:
    """The printed invoice as a PDF file to download (the portal's and the console's)."""
    name = f"invoice-{number if number is not None else invoice_id}.pdf"
    return Response(
        render(printed),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
