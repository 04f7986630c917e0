// The idle-timeout warning. The server signs a person out after the CoC's idle
// window (IdleTimeoutMiddleware); this shows the warning shortly before, and
// its button pings the server, which counts as activity. The numbers come from
// the sign-in policy, through data attributes in base.html.
(function () {
  "use strict";
  var alert = document.getElementById("idle-warning");
  if (!alert) {
    return;
  }
  // Seconds left when the page was served, and the whole window, which
  // starts again once the server has recorded "stay signed in".
  var idleSeconds = parseInt(alert.dataset.idleSeconds, 10);
  var windowSeconds = parseInt(alert.dataset.windowSeconds, 10);
  var warningSeconds = parseInt(alert.dataset.warningSeconds, 10);
  var button = document.getElementById("idle-stay");
  var warnTimer = null;
  var endTimer = null;

  function arm(seconds) {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    alert.classList.add("d-none");
    warnTimer = window.setTimeout(function () {
      alert.classList.remove("d-none");
      button.focus();
    }, Math.max(seconds - warningSeconds, 0) * 1000);
    // Past the window the server has signed the person out: load the page
    // again so they see the sign-in page rather than a page that no longer works.
    endTimer = window.setTimeout(function () {
      window.location.assign(window.location.href);
    }, (seconds + 1) * 1000);
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    fetch(alert.dataset.stayUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": alert.dataset.csrfToken },
    }).then(function (response) {
      button.disabled = false;
      if (response.ok) {
        arm(windowSeconds);
      } else {
        window.location.assign(window.location.href);
      }
    }, function () {
      button.disabled = false;
    });
  });

  arm(idleSeconds);
})();
