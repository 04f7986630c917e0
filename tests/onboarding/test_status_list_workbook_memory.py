"""The status list's .xlsx keeps bounded memory however many agencies it
lists: openpyxl's write-only mode writes each row out as it is appended,
where its normal mode keeps every cell as an object until the file is saved.
The rows here are plain values, as the selector hands them a chunk at a time,
so what is measured is the workbook alone."""

import datetime as dt
import tracemalloc
from types import SimpleNamespace

from onboarding.spreadsheet import status_list_workbook

TODAY = dt.date(2026, 11, 20)


def _agencies(n):
    for i in range(n):
        programs = [SimpleNamespace(name=f"Program {i}-{j}", program_type="Emergency Shelter",
                                    setup_status_label="Confirmed") for j in range(2)]
        yield SimpleNamespace(name=f"Agency {i:05d}", roles=["Housing Provider"], programs=programs,
                              agreement_label="Executed", stage_label="Participating")


def _peak(agencies):
    tracemalloc.start()
    try:
        workbook = status_list_workbook(_agencies(agencies), today=TODAY)
        return tracemalloc.get_traced_memory()[1], len(workbook)
    finally:
        tracemalloc.stop()


def test_the_workbook_s_memory_does_not_grow_with_its_rows():
    status_list_workbook(_agencies(10), today=TODAY)  # what is loaded once per process
    small, _ = _peak(200)
    large, size = _peak(2000)
    # Ten times the rows: the file itself grows (it is returned as bytes, about
    # a hundred thousand of them here), the rest stays what one row costs.
    assert large - small < 2 * size + 200_000, (small, large, size)


def test_text_that_looks_like_a_formula_or_an_error_stays_text_in_a_write_only_sheet():
    """A write-only sheet guesses a cell's type from a plain value: "=…" as a
    formula, "#N/A" as an error. `xlsx_cells` stores such text as text."""
    import io

    from openpyxl import Workbook, load_workbook

    from hmis_portal.core.exports import xlsx_cells

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Cells")
    values = ["=1+1", "#N/A", "#DIV/0!", "=", "Plain", 3, 2.5, TODAY, None, ""]
    sheet.append(xlsx_cells(sheet, values))
    out = io.BytesIO()
    workbook.save(out)
    row = next(load_workbook(out).active.iter_rows())
    assert [cell.value for cell in row] == ["=1+1", "#N/A", "#DIV/0!", "=", "Plain", 3, 2.5,
                                            dt.datetime(2026, 11, 20), None, None]
    assert [cell.data_type for cell in row[:7]] == ["s", "s", "s", "s", "s", "n", "n"]
