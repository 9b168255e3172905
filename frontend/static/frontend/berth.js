// Berth's own page behaviour. No inline scripts anywhere: the Content-Security-Policy
// allows scripts from Berth's static files only (docs/security.md).
"use strict";

// A checkbox with data-select-all="<selector>" ticks or clears every box the selector
// finds. Delegated from the document, so it works in fragments htmx swaps in too.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.dataset.selectAll) return;
  document.querySelectorAll(box.dataset.selectAll).forEach((other) => {
    other.checked = box.checked;
  });
});

// An element polling with hx-trigger="every …" and data-poll-paused-by="<selector>"
// skips its poll while the selector finds something (the containers list while boxes
// are ticked, so a refresh does not drop the selection). htmx's own trigger filter
// ("every 5s [cond]") would need eval, which the Content-Security-Policy refuses.
document.addEventListener("htmx:beforeRequest", (event) => {
  const element = event.detail && event.detail.elt;
  if (!(element instanceof Element) || event.target !== element) return;
  const selector = element.getAttribute("data-poll-paused-by");
  if (selector && document.querySelector(selector)) event.preventDefault();
});
