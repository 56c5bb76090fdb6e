"""`label_cells`, which every rendered page goes through: body and footer cells carry their
column heading for the stacked phone layout, and a scrolling table box is named and
reachable with the keyboard."""

from __future__ import annotations

from metering.platform.web.tables import label_cells

INVOICE = """<h2 id="lines">Invoice lines</h2>
<div class="table-scroll">
<table aria-labelledby="lines">
  <thead><tr><th scope="col">Description</th><th scope="col" class="num">Quantity</th>
    <th scope="col" class="num">Amount <span class="visually-hidden">in USD</span></th>
    <th scope="col"><span class="visually-hidden">Details</span></th></tr></thead>
  <tbody>
    <tr><td><strong>Resolved</strong>
      <table><thead><tr><th>Tier</th><th class="num">Amount</th></tr></thead>
        <tbody><tr><td>1</td><td class="num">$4.50</td></tr></tbody></table>
    </td><td class="num">4</td><td class="num">$4.50</td><td><a href="/1">Details</a></td></tr>
    <tr><td colspan="4">Nothing else</td></tr>
  </tbody>
  <tfoot><tr><th scope="row" colspan="2">Total</th><td class="num">$4.50</td></tr></tfoot>
</table>
</div>"""


def test_each_cell_is_labelled_with_its_column_heading() -> None:
    page = label_cells(INVOICE)
    assert '<td class="num" data-label="Quantity">4</td>' in page
    assert '<td data-label="Description"><strong>Resolved</strong>' in page


def test_a_heading_only_screen_readers_get_gives_no_visible_label() -> None:
    page = label_cells(INVOICE)
    assert '<td class="num" data-label="Amount">$4.50</td><td><a href="/1">Details</a></td>' in page


def test_a_nested_table_uses_its_own_headings() -> None:
    page = label_cells(INVOICE)
    assert '<td data-label="Tier">1</td><td class="num" data-label="Amount">$4.50</td>' in page


def test_a_cell_over_several_columns_has_no_label_and_the_footer_follows_the_columns() -> None:
    page = label_cells(INVOICE)
    assert '<td colspan="4">Nothing else</td>' in page
    assert '<th scope="row" colspan="2">Total</th>' in page
    assert '<td class="num" data-label="Amount">$4.50</td></tr></tfoot>' in page


def test_the_scrolling_box_is_named_like_its_table_and_focusable() -> None:
    page = label_cells(INVOICE)
    assert '<div class="table-scroll" role="group" tabindex="0" aria-labelledby="lines">' in page
    captioned = label_cells(
        '<div class="table-scroll"><table><caption>Invoices &amp; credits</caption>'
        "<tbody><tr><td>1</td></tr></tbody></table></div>"
    )
    assert 'role="group" tabindex="0" aria-label="Invoices &amp; credits"><table>' in captioned


def test_a_label_the_template_gave_and_headings_with_markup_are_kept_safe() -> None:
    page = label_cells(
        '<table><thead><tr><th>Say "hi" &lt;b&gt;</th><th>B</th></tr></thead>'
        '<tbody><tr><td data-label="Own">x</td><td>y</td></tr></tbody></table>'
    )
    assert '<td data-label="Own">x</td>' in page
    assert '<td data-label="B">y</td>' in page
    first = label_cells(page.replace('data-label="Own"', ""))
    assert 'data-label="Say &quot;hi&quot; &lt;b&gt;"' in first


def test_a_page_without_tables_is_unchanged() -> None:
    page = "<main><p>Nothing to show</p></main>"
    assert label_cells(page) is page
