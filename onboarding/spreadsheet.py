"""The CES Participation Status List as a CoC would publish it (seed 000 links
"CES_Participation_Status.xlsx"): a title row, the date, a bold frozen header
with a filter, one row per program (an organization with none gets one row),
and columns wide enough to read."""

import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from hmis_portal.core.exports import xlsx_cells

TITLE = "CES Participation Status List"
HEADERS = ["Organization", "CES Role(s)", "Program", "Program Type", "Program Setup Status",
           "Organization Agreement", "Participation Stage"]
WIDTHS = [40, 45, 40, 34, 30, 38, 28]
HEADER_ROW = 3


def flat_rows(rows):
    """The list's rows as cell values. Names are typed by agencies: the
    writers pass every cell through `hmis_portal.core.exports`."""
    for row in rows:
        common = (row.name, "; ".join(row.roles))
        tail = (row.agreement_label, row.stage_label)
        if not row.programs:
            yield (*common, "", "", "", *tail)
        for program in row.programs:
            yield (*common, program.name, program.program_type, program.setup_status_label, *tail)


def _styled(sheet, value, **styles):
    cell = WriteOnlyCell(sheet, value=value)
    for name, style in styles.items():
        setattr(cell, name, style)
    return cell


def status_list_workbook(rows, *, today) -> bytes:
    """The workbook in openpyxl's write-only mode: each row goes to a
    temporary file as it is appended, so a list of ten thousand agencies,
    read a chunk at a time, never holds its cells in memory. Such a sheet is
    written top to bottom, so its column widths and frozen header are set
    before the first row, and the filter, which covers every row, after the last."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Participation Status")
    for column, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    # Keep the header in view while scrolling, and let readers filter.
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    sheet.append([_styled(sheet, TITLE, font=Font(bold=True, size=14))])
    sheet.append([_styled(sheet, f"As of {today:%B %-d, %Y}", font=Font(italic=True))])
    fill = PatternFill("solid", fgColor="1F4E78")
    header_font = Font(bold=True, color="FFFFFF")
    header_alignment = Alignment(vertical="center", wrap_text=True)
    sheet.append([_styled(sheet, header, font=header_font, fill=fill, alignment=header_alignment)
                  for header in HEADERS])
    count = 0
    for count, values in enumerate(flat_rows(rows), start=1):
        sheet.append(xlsx_cells(sheet, values))
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(HEADERS))}{HEADER_ROW + max(count, 1)}"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
