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
