// After a submit the server refused: the form's problems are said first and
// focus moves to them, so a keyboard or screen-reader user is not left on
// <body>. Field errors get a summary at the top of the form with a link to
// each field (named by its label: the error itself is said once, beside the
// field, which describes it); a form-wide error (a wrong password) is
// announced where it is.
document.addEventListener("DOMContentLoaded", () => {
  const form = [...document.querySelectorAll("main form")].find(
    (f) => f.querySelector(".is-invalid, .alert-danger"));
  if (!form) return;
  const invalid = [...form.querySelectorAll("input.is-invalid, select.is-invalid, textarea.is-invalid")];
  let target = form.querySelector(".alert-danger");
  if (invalid.length) {
    target = document.createElement("div");
    target.className = "alert alert-danger";
    const heading = document.createElement("p");
    heading.className = "fw-semibold mb-1";
    heading.textContent = invalid.length === 1 ? "Check this field:" : `Check these ${invalid.length} fields:`;
    const list = document.createElement("ul");
    list.className = "mb-0";
    for (const field of invalid) {
      const label = field.id && form.querySelector(`label[for="${CSS.escape(field.id)}"]`);
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.className = "alert-link";
      link.href = `#${field.id}`;
      link.textContent = label ? label.textContent.replace("*", "").trim() : field.name;
      link.addEventListener("click", (event) => { event.preventDefault(); field.focus(); });
      item.append(link);
      list.append(item);
    }
    target.append(heading, list);
    form.prepend(target);
  }
  target.setAttribute("role", "alert");
  target.tabIndex = -1;
  target.focus();
});

// Tables: on a phone portal.css shows each row as a card, each cell under the
// name of its column; the names come from the header row here, and the table
// roles that display:block takes from the cells are given back. A table that
// still scrolls sideways (wider than its column on a desktop) can take focus,
// named by its caption or heading, so a keyboard can scroll it.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("main table.table")) {
    const header = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    const names = header ? [...header.cells].flatMap(
      (cell) => Array(cell.colSpan || 1).fill(cell.textContent.trim())) : [];
    table.setAttribute("role", "table");
    for (const row of table.rows) {
      row.setAttribute("role", "row");
      let column = 0;
      for (const cell of row.cells) {
        const inHeader = row.parentElement.tagName === "THEAD";
        cell.setAttribute("role", inHeader ? "columnheader" : cell.tagName === "TH" ? "rowheader" : "cell");
        if (!inHeader && !cell.textContent.trim() && !cell.querySelector("a, button, input, img, svg")) {
          cell.dataset.empty = "";  // nothing to show: no card line with a name and nothing under it
        } else if (!inHeader && names[column] && !cell.dataset.label && (cell.colSpan || 1) === 1) {
          cell.dataset.label = names[column];
        }
        column += cell.colSpan || 1;
      }
    }
  }
  const scrollable = () => {
    for (const region of document.querySelectorAll("main .table-responsive")) {
      // As axe-core judges it: any overflow, however small, scrolls.
      if (region.scrollWidth > region.clientWidth || region.scrollHeight > region.clientHeight) {
        const table = region.querySelector("table");
        const caption = table && table.caption ? table.caption.textContent.trim() : "";
        const heading = region.closest("section")?.querySelector("h1, h2, h3");
        region.tabIndex = 0;
        region.setAttribute("role", "region");
        region.setAttribute("aria-label", caption || heading?.textContent.trim() || "Table");
      } else if (region.getAttribute("role") === "region") {
        region.removeAttribute("tabindex");
        region.removeAttribute("role");
        region.removeAttribute("aria-label");
      }
    }
  };
  scrollable();
  window.addEventListener("resize", scrollable);
});
