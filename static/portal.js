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
