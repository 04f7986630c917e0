// The login report import (admin): show progress while a large file is checked.
(function () {
  "use strict";
  var form = document.getElementById("login-report-form");
  if (form) {
    form.addEventListener("submit", function () {
      document.getElementById("import-progress").hidden = false;
    });
  }
})();
