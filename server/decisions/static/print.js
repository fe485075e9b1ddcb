// The letter's "Print" button: shown only where a script runs (the page prints from the
// browser's own menu without it).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
