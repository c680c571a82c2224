/* Size estimates of the territory sources page (/ckan-admin/dataclic/territory-sources).
 *
 * The page renders at once, with the estimates the cache holds and a placeholder for the
 * others (td.dataclic-estimate[data-pending]); this script asks the page's JSON endpoint
 * (the form's data-estimates-url) for those, after the page has loaded, and writes the
 * labels and tooltips it answers (already translated and formatted for the page's language).
 * Any failure shows the form's translated "unknown" label. No dependency.
 */
(function () {
  "use strict";

  function start() {
    var form = document.querySelector("form.dataclic-territory-form[data-estimates-url]");
    if (!form) { return; }
    var cells = Array.prototype.slice.call(
      form.querySelectorAll("td.dataclic-estimate[data-pending]"));
    if (!cells.length) { return; }

    function fill(cell, view) {
      cell.removeAttribute("data-pending");
      cell.setAttribute("data-known", view.known ? "true" : "false");
      cell.classList.toggle("text-body-secondary", !view.known);
      cell.textContent = view.label;
      cell.title = view.title || "";
    }

    function unknownForTheRest() {
      cells.forEach(function (cell) {
        if (cell.hasAttribute("data-pending")) {
          fill(cell, {known: false, label: form.getAttribute("data-unknown-label"),
                      title: form.getAttribute("data-unknown-title")});
        }
      });
    }

    var query = new URLSearchParams();
    query.append("perimeter", form.getAttribute("data-perimeter") || "");
    cells.forEach(function (cell) { query.append("source", cell.getAttribute("data-source")); });
    fetch(form.getAttribute("data-estimates-url") + "?" + query.toString(), {
      credentials: "same-origin", headers: {"Accept": "application/json"}
    }).then(function (response) {
      return response.ok ? response.json() : Promise.reject(response.status);
    }).then(function (answer) {
      var found = (answer && answer.estimates) || {};
      cells.forEach(function (cell) {
        var view = found[cell.getAttribute("data-source")];
        if (view && typeof view.label === "string") { fill(cell, view); }
      });
      unknownForTheRest();
    }).catch(unknownForTheRest);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
