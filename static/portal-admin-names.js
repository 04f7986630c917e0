// The admin's two-box selector (Django's SelectFilter) labels each filter box
// with an icon that carries its name as aria-label on a plain span, which
// assistive technology ignores (a span has no role that may be named): the
// icon is given the role of an image, so the label, and the box, is named.
// The boxes are built when the page has loaded, hence the observer.
(function () {
  "use strict";
  function name(root) {
    root.querySelectorAll(".search-label-icon[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (node.nodeType === 1) {
          name(node.parentNode || node);
        }
      });
    });
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
