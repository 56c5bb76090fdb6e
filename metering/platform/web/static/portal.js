// Small progressive enhancements; every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
  // A table box is a keyboard stop (tabindex="0", set on the server) so that a table wider
  // than the screen can be scrolled; where it fits, the extra stop is taken away.
  const boxes = [...document.querySelectorAll(".table-scroll[tabindex]")];
  const fit = () => {
    for (const box of boxes) {
      if (box.scrollWidth > box.clientWidth) box.setAttribute("tabindex", "0");
      else box.removeAttribute("tabindex");
    }
  };
  fit();
  window.addEventListener("resize", fit);
  document.addEventListener("toggle", fit, true); // a table inside <details> shown or hidden
});
