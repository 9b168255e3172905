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

// The main menu on narrow screens: the "Menu" button (shown by berth.css below 860 px)
// opens and closes the sections and the account menu it controls. Escape closes it.
document.addEventListener("click", (event) => {
  const toggle = event.target instanceof Element && event.target.closest(".menu-toggle");
  if (!toggle) return;
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const toggle = document.querySelector('.menu-toggle[aria-expanded="true"]');
  if (!toggle) return;
  toggle.setAttribute("aria-expanded", "false");
  toggle.focus();
});

// On narrow screens berth.css shows each table row as a stacked card; each cell is labelled
// with its column's header (data-label, shown by CSS), taken here from the table's <thead>
// so the templates need not repeat it. Tables htmx swaps in are labelled as they arrive,
// before the browser paints them (a MutationObserver runs before rendering).
function labelCells(root) {
  root.querySelectorAll("table").forEach((table) => {
    const headers = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      Array.from(row.children).forEach((cell, index) => {
        if (headers[index] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", headers[index]);
      });
    });
  });
}
labelCells(document);
new MutationObserver((mutations) => {
  mutations.forEach((mutation) => {
    mutation.addedNodes.forEach((node) => {
      if (!(node instanceof Element)) return;
      const table = node.closest("table");
      labelCells(table && table.parentElement ? table.parentElement : node);
    });
  });
}).observe(document.body, { childList: true, subtree: true });
