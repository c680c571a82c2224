/* "Extract for a territory" panel of a resource page.
 *
 * Bound with data-module="dataclic-extract" on the panel's <section>. Talks to the CKAN API
 * through the sandbox client (which adds the CSRF header to POSTs). Messages come translated
 * from the page (<script type="application/json" class="dataclic-strings">); a message with
 * plural forms comes as {one, other} and is picked with Intl.PluralRules for the page's
 * language ("1 ligne", "2 lignes"). Dates are written with Intl.DateTimeFormat in that language
 * ("6 décembre 2026").
 *
 * A result (download link, report, publish form) always matches the form above it: choosing
 * another territory, selection mode, format or coordinate system removes it at once, and the
 * answers of an extraction started for the previous choice are ignored.
 *
 * Gridded resources (data-module-grid="true"): the methods of dataclic-extract-grid.js (same
 * bundle) offer the formats of the chosen mode and send the variables, the labels of the
 * other dimensions and the threshold; ticking or unticking any of them also removes a shown
 * result.
 */
ckan.module("dataclic-extract", function ($) {
  "use strict";

  var SEARCH_DELAY_MS = 50;      // debounce: leaves the server ~50 ms to answer within 100 ms
  var POLL_MS = 400;
  var SVG_W = 240, SVG_H = 160, SVG_PAD = 6;

  /* The panel's styles (kind badges keep >= 4.5:1 contrast: dark text on light fills). They
   * ship inside this bundle so the resource page resolves one asset instead of two; they are
   * added once, when the first panel starts. */
  var PANEL_CSS = [
    ".dataclic-combobox {position: relative;}",
    ".dataclic-listbox {position: absolute;z-index: 1050;left: 0;right: 0;max-height: 18rem;overflow-y: auto;margin: 0.125rem 0 0;padding: 0;}",
    ".dataclic-option {cursor: pointer;display: flex;align-items: baseline;gap: 0.375rem;}",
    ".dataclic-option .dataclic-kind {margin-left: auto;}",
    ".dataclic-option.active .dataclic-option-detail {color: inherit !important;}",
    ".dataclic-empty {font-style: italic;}",
    ".dataclic-kind {font-weight: 600;}",
    ".dataclic-kind-commune, .dataclic-kind-arrondissement {background-color: #e7f1ff;color: #084298;}",
    ".dataclic-kind-epci {background-color: #d1e7dd;color: #0a3622;}",
    ".dataclic-kind-departement {background-color: #fff3cd;color: #664d03;}",
    ".dataclic-kind-region {background-color: #e2d9f3;color: #3d2673;}",
    ".dataclic-map {margin: 0 0 1rem;}",
    ".dataclic-map svg {display: block;width: 240px;max-width: 100%;height: auto;background-color: #f8f9fa;border: 1px solid #dee2e6;border-radius: 0.375rem;}",
    ".dataclic-map-perimeter {fill: rgba(13, 110, 253, 0.2);stroke: #0d6efd;stroke-width: 1.2;stroke-linejoin: round;}",
    ".dataclic-map-extent {fill: none;stroke: #6c757d;stroke-width: 1;stroke-dasharray: 4 3;}",
    ".dataclic-progress .progress {height: 1.25rem;}",
    // Grid choices: checkbox labels read as plain text (CKAN adds a bold "label:after" colon).
    ".dataclic-grid .form-check-label {font-weight: normal;}",
    ".dataclic-grid .form-check-label::after {content: none;}",
    ".dataclic-grid legend {margin-bottom: 0.25rem;}",
    ".dataclic-threshold {max-width: 12rem;}",
    ".dataclic-extract [hidden] {display: none !important;}"
  ].join("\n");

  function addStyles() {
    if (document.getElementById("dataclic-extract-css")) { return; }
    var style = document.createElement("style");
    style.id = "dataclic-extract-css";
    style.textContent = PANEL_CSS;
    document.head.appendChild(style);
  }

  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : whole;
    });
  }

  // The grid's parts (dataclic-extract-grid.js, earlier in the bundle) join the methods below.
  return $.extend({
    options: { resourceId: null, bounds: null, departements: null, grid: false },

    initialize: function () {
      var el = this.el;
      addStyles();
      this.strings = {};
      try {
        this.strings = JSON.parse(el.find(".dataclic-strings").text() || "{}");
      } catch (e) { /* keep English fallbacks below */ }
      this.locale = document.documentElement.lang || "en";
      this.numbers = new Intl.NumberFormat(this.locale);
      this.plurals = new Intl.PluralRules(this.locale);
      this.dates = new Intl.DateTimeFormat(this.locale,
                                           { day: "numeric", month: "long", year: "numeric" });
      this.$input = el.find(".dataclic-territory");
      this.$listbox = el.find(".dataclic-listbox");
      this.$map = el.find(".dataclic-map");
      this.$preview = el.find(".dataclic-preview");
      this.$download = el.find(".dataclic-download");
      this.$progress = el.find(".dataclic-progress");
      this.$bar = this.$progress.find(".progress-bar");
      this.$status = el.find(".dataclic-status");
      this.$error = el.find(".dataclic-error");
      this.$result = el.find(".dataclic-result");
      this.$publish = el.find(".dataclic-publish");
      this.results = [];
      this.active = -1;
      this.searchSeq = 0;
      this.busy = false;
      this.extraction = null;
      this.extractionSeq = 0;
      this.lastAction = null;
      this.perimeter = this.$input.data("perimeter") || null;
      this.perimeterName = this.perimeter ? this.$input.val() : null;

      this.$formatOptions = el.find(".dataclic-format option").clone();
      el.find(".dataclic-variable, .dataclic-label").on("change", this._clearResult.bind(this));
      el.find(".dataclic-threshold").on("input change", this._clearResult.bind(this));
      this._applyModeFormats();
      this.$input.on("input", this._onInput.bind(this));
      this.$input.on("keydown", this._onKeydown.bind(this));
      this.$input.on("blur", this._onBlur.bind(this));
      this.$listbox.on("mousedown", "[role=option]", this._onOptionClick.bind(this));
      el.find(".dataclic-form").on("submit", this._onDownload.bind(this));
      el.find(".dataclic-format").on("change", this._onFormatChange.bind(this));
      el.find("select.dataclic-mode").on("change", this._onModeChange.bind(this));
      el.find(".dataclic-crs").on("change", this._clearResult.bind(this));
      el.find(".dataclic-retry").on("click", this._onRetry.bind(this));
      this.$publish.on("submit", this._onPublish.bind(this));
      this.$publish.find(".dataclic-target").on("change", this._onTargetChange.bind(this));
      this.$publish.find(".dataclic-org").on("change", this._loadDatasets.bind(this));
      this._onFormatChange();
      if (this.$input.val() !== this.$input.prop("defaultValue")) {
        // Typed before this script started (a slow page): search for it now.
        this._onInput();
      } else if (this.perimeter) {
        this._choose({ id: this.perimeter, name: this.perimeterName, kind: this.$input.data("kind") });
      }
      el.addClass("dataclic-ready");   // listening: what is typed from now on is searched
    },

    /* The message ``key`` with ``values``; ``n`` picks the plural form of a message that
     * has some (Intl's "one"/"other" categories are the two forms of French and English; a
     * category the catalogue lacks, like French "many" for millions, falls back to "other"). */
    t: function (key, values, n) {
      var message = this.strings[key] || key;
      if (message && typeof message === "object") {
        message = message[this.plurals.select(n === undefined ? 2 : n)] || message.other;
      }
      return format(message, values || {});
    },

    /* An ISO date-time of the API (UTC when it names no offset) as "6 décembre 2026". */
    formatDate: function (iso) {
      if (!iso) { return ""; }
      var text = String(iso);
      if (!/(Z|[+-]\d\d:?\d\d)$/.test(text) && text.indexOf("T") > 0) { text += "Z"; }
      var date = new Date(text);
      return isNaN(date.getTime()) ? "" : this.dates.format(date);
    },

    /* API ------------------------------------------------------------------------------- */

    api: function (method, action, data) {
      var client = this.sandbox.client;
      return new Promise(function (resolve, reject) {
        var payload = data;
        if (method === "GET") {
          payload = "?" + $.param(data || {});
        }
        client.call(method, action, payload, function (body) {
          if (body && body.success) { resolve(body.result); } else { reject({ body: body }); }
        }, function (xhr) {
          reject({ status: xhr.status, body: xhr.responseJSON });
        });
      });
    },

    /* A failed API call in plain language. */
    describeError: function (failure) {
      var error = failure && failure.body && failure.body.error;
      if (error) {
        var parts = [];
        $.each(error, function (field, messages) {
          if (field === "__type") { return; }
          if ($.isArray(messages)) { parts.push(messages.join(" ")); }
          else if (typeof messages === "string") { parts.push(messages); }
          else if (messages && typeof messages === "object") {
            $.each(messages, function (_k, v) { parts.push($.isArray(v) ? v.join(" ") : String(v)); });
          }
        });
        if (parts.length) { return parts.join(" "); }
      }
      if (failure && failure.status === 403) { return this.t("forbidden"); }
      if (!failure || !failure.status) { return this.t("network"); }
      return this.t("server", { status: failure.status });
    },

    /* Territory search (ARIA 1.2 combobox with a listbox popup) ----------------------- */

    _onInput: function () {
      var q = $.trim(this.$input.val());
      this.perimeter = null;
      this.$input.removeAttr("data-perimeter");
      this.$map.prop("hidden", true);
      this._clearPreview();
      this._clearResult();
      clearTimeout(this.searchTimer);
      if (q.length < 2 && !/^\d/.test(q)) {
        this._closeList();
        return;
      }
      this.searchTimer = setTimeout(this._search.bind(this, q), SEARCH_DELAY_MS);
    },

    _search: function (q) {
      var seq = ++this.searchSeq;
      var self = this;
      this.api("GET", "dataclic_territory_search", { q: q, limit: 10 }).then(function (found) {
        // An answer to an older keystroke, or to a text no longer in the box.
        if (seq !== self.searchSeq || $.trim(self.$input.val()) !== q) { return; }
        self._showResults(found.results || []);
      }, function (failure) {
        if (seq !== self.searchSeq) { return; }
        self._showResults([]);
        self._announce(self.describeError(failure));
      });
    },

    _showResults: function (results) {
      var self = this;
      var listId = this.$listbox.attr("id");
      this.results = results;
      this.active = -1;
      this.$listbox.empty();
      this.$input.removeAttr("aria-activedescendant");
      if (!results.length) {
        $("<li>", { "class": "list-group-item dataclic-empty", role: "option",
                    "aria-disabled": "true", id: listId + "-none" })
          .text(this.t("no_result")).appendTo(this.$listbox);
        this._openList();
        this._announce(this.t("no_result"));
        return;
      }
      $.each(results, function (i, item) {
        var $option = $("<li>", {
          "class": "list-group-item list-group-item-action dataclic-option",
          role: "option", id: listId + "-" + i, "aria-selected": "false", "data-index": i
        });
        $("<span>", { "class": "dataclic-option-name" }).text(item.name).appendTo($option);
        var where = item.departement && item.kind !== "departement" ? item.departement.name : "";
        var detail = item.code + (where ? " · " + where : "");
        $("<span>", { "class": "dataclic-option-detail text-body-secondary" }).text(" " + detail)
          .appendTo($option);
        $("<span>", { "class": "badge dataclic-kind dataclic-kind-" + item.kind })
          .text(self.strings["kind_" + item.kind] || item.kind_label).appendTo($option);
        $option.appendTo(self.$listbox);
      });
      this._openList();
      this._announce(this.t("results", { count: results.length }, results.length));
    },

    _openList: function () {
      this.$listbox.prop("hidden", false);
      this.$input.attr("aria-expanded", "true");
    },

    _closeList: function () {
      this.$listbox.prop("hidden", true).empty();
      this.$input.attr("aria-expanded", "false").removeAttr("aria-activedescendant");
      this.results = [];
      this.active = -1;
    },

    _setActive: function (index) {
      var $options = this.$listbox.find(".dataclic-option");
      if (!$options.length) { return; }
      index = (index + $options.length) % $options.length;
      $options.attr("aria-selected", "false").removeClass("active");
      var $option = $options.eq(index).attr("aria-selected", "true").addClass("active");
      this.active = index;
      this.$input.attr("aria-activedescendant", $option.attr("id"));
      var node = $option.get(0);
      if (node.scrollIntoView) { node.scrollIntoView({ block: "nearest" }); }
    },

    _onKeydown: function (event) {
      var open = !this.$listbox.prop("hidden") && this.results.length;
      switch (event.key) {
        case "ArrowDown":
          if (open) { event.preventDefault(); this._setActive(this.active + 1); }
          break;
        case "ArrowUp":
          if (open) { event.preventDefault(); this._setActive(this.active - 1); }
          break;
        case "Enter":
          if (open && this.active >= 0) {
            event.preventDefault();
            this._choose(this.results[this.active]);
          }
          break;
        case "Escape":
          if (!this.$listbox.prop("hidden")) { event.preventDefault(); this._closeList(); }
          break;
      }
    },

    _onBlur: function () {
      var self = this;
      // Let a click on an option land before the list closes.
      setTimeout(function () { if (!self.$input.is(":focus")) { self._closeList(); } }, 150);
    },

    _onOptionClick: function (event) {
      event.preventDefault();
      var index = parseInt($(event.currentTarget).attr("data-index"), 10);
      if (!isNaN(index) && this.results[index]) { this._choose(this.results[index]); }
    },

    _choose: function (item) {
      this._closeList();
      this.perimeter = item.id;
      this.perimeterName = item.name;
      this.$input.val(item.name).attr("data-perimeter", item.id);
      this._announce(this.t("selected", { name: item.name }));
      this._hideError();
      this._clearResult();
      this._drawTerritory(item);
      this._preview();
    },

    /* Map ------------------------------------------------------------------------------ */

    _drawTerritory: function (item) {
      var self = this;
      var perimeter = item.id;
      Promise.all([
        this.api("GET", "dataclic_territory_show", { id: perimeter, geometry: true, tolerance: 0.002 }),
        this._extent()
      ]).then(function (answers) {
        if (self.perimeter !== perimeter || !answers[0].geometry) { return; }
        self._drawMap(answers[0], answers[1]);
      }, function () { self.$map.prop("hidden", true); });
    },

    _rings: function (geometry) {
      var rings = [];
      var polygons = !geometry ? [] : geometry.type === "Polygon" ? [geometry.coordinates]
        : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
      $.each(polygons, function (_i, polygon) {
        $.each(polygon, function (_j, ring) { rings.push(ring); });
      });
      return rings;
    },

    /* What the map shows of the resource, fetched once: the outlines of the few départements
     * its coverage holds, else its extent (bounding box), else nothing. */
    _extent: function () {
      var self = this;
      if (this.extentPromise) { return this.extentPromise; }
      var box = this.options.bounds;
      var fallback = $.isArray(box) && box.length === 4 ? { rect: box, bounds: box } : null;
      var departements = $.isArray(this.options.departements) ? this.options.departements : [];
      if (!departements.length) {
        this.extentPromise = Promise.resolve(fallback);
        return this.extentPromise;
      }
      this.extentPromise = Promise.all(departements.map(function (code) {
        return self.api("GET", "dataclic_territory_show",
                        { id: "departement:" + code, geometry: true, tolerance: 0.01 })
          .then(function (shown) { return self._rings(shown.geometry); },
                function () { return []; });   // a code that is no département: skipped
      })).then(function (parts) {
        var rings = [].concat.apply([], parts);
        return rings.length ? { rings: rings, bounds: self._ringBounds(rings) } : fallback;
      });
      return this.extentPromise;
    },

    _drawMap: function (shown, coverage) {
      var svg = this.$map.find("svg").get(0);
      var ns = "http://www.w3.org/2000/svg";
      var rings = this._rings(shown.geometry);
      if (!rings.length) { this.$map.prop("hidden", true); return; }
      var b = shown.bounds || this._ringBounds(rings);
      var extent = coverage ? coverage.bounds : null;
      var view = extent ? [Math.min(b[0], extent[0]), Math.min(b[1], extent[1]),
                           Math.max(b[2], extent[2]), Math.max(b[3], extent[3])] : b;
      // Equirectangular projection scaled by cos(latitude): faithful enough for a thumbnail.
      var kx = Math.cos(((view[1] + view[3]) / 2) * Math.PI / 180);
      var w = Math.max((view[2] - view[0]) * kx, 1e-9), h = Math.max(view[3] - view[1], 1e-9);
      var scale = Math.min((SVG_W - 2 * SVG_PAD) / w, (SVG_H - 2 * SVG_PAD) / h);
      var ox = (SVG_W - w * scale) / 2, oy = (SVG_H - h * scale) / 2;
      function project(point) {
        return ((point[0] - view[0]) * kx * scale + ox).toFixed(1) + "," +
               ((view[3] - point[1]) * scale + oy).toFixed(1);
      }
      function outline(list) {
        return list.map(function (ring) { return "M" + ring.map(project).join("L") + "Z"; }).join("");
      }
      while (svg.firstChild) { svg.removeChild(svg.firstChild); }
      var title = document.createElementNS(ns, "title");
      title.textContent = this.t("map_label", { name: shown.name });
      svg.appendChild(title);
      if (coverage && coverage.rings) {
        var covered = document.createElementNS(ns, "path");
        covered.setAttribute("d", outline(coverage.rings));
        covered.setAttribute("class", "dataclic-map-extent");
        covered.setAttribute("fill-rule", "evenodd");
        svg.appendChild(covered);
      } else if (coverage && coverage.rect) {
        var rect = document.createElementNS(ns, "rect");
        var p1 = project([extent[0], extent[3]]).split(","), p2 = project([extent[2], extent[1]]).split(",");
        rect.setAttribute("x", p1[0]); rect.setAttribute("y", p1[1]);
        rect.setAttribute("width", Math.max(p2[0] - p1[0], 0).toFixed(1));
        rect.setAttribute("height", Math.max(p2[1] - p1[1], 0).toFixed(1));
        rect.setAttribute("class", "dataclic-map-extent");
        svg.appendChild(rect);
      }
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", outline(rings));
      path.setAttribute("class", "dataclic-map-perimeter");
      path.setAttribute("fill-rule", "evenodd");
      svg.appendChild(path);
      this.$map.find("figcaption").text(this.t("map_label", { name: shown.name }) +
        (coverage ? " · " + this.t("map_extent") : ""));
      this.$map.prop("hidden", false);
    },

    _ringBounds: function (rings) {
      var b = [Infinity, Infinity, -Infinity, -Infinity];
      $.each(rings, function (_i, ring) {
        $.each(ring, function (_j, p) {
          b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
          b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
        });
      });
      return b;
    },

    /* Options and preview ---------------------------------------------------------------- */

    _onFormatChange: function () {
      var fmt = this.el.find(".dataclic-format").val();
      // CSV and Parquet outputs may be plain tables; the CRS matters for geometric ones only.
      this.el.find(".dataclic-crs-field").prop("hidden", fmt === "csv");
      this._clearResult();
    },

    _request: function () {
      var el = this.el;
      var request = {
        resource_id: this.options.resourceId,
        perimeter: this.perimeter,
        format: el.find(".dataclic-format").val()
      };
      var mode = el.find(".dataclic-mode").val();
      if (mode) { request.mode = mode; }
      if (this.options.grid) { $.extend(request, this._gridChoices(mode)); }
      var crs = el.find(".dataclic-crs");
      if (crs.length && !el.find(".dataclic-crs-field").prop("hidden")) {
        request.out_crs = crs.val();
      }
      return request;
    },

    _onModeChange: function () {
      this._applyModeFormats();
      this._clearResult();
      if (this.perimeter) { this._preview(); }
    },

    /* The form changed: the result on screen (or the extraction under way) was for another
     * choice. Remove it at once, with its download link, report and publish form, and ignore
     * what the server still answers about it. */
    _clearResult: function () {
      this.extractionSeq += 1;
      clearTimeout(this.pollTimer);
      this.extraction = null;
      this.lastStep = null;
      var $link = this.$result.find(".dataclic-download-link");
      $link.attr("href", "#").removeAttr("download").text("");
      this.$result.find(".dataclic-report").empty();
      this.$result.prop("hidden", true);
      this.$publish.prop("hidden", true);
      this.$publish.find(".dataclic-published").empty();
      this.$progress.prop("hidden", true);
      this._hideError();
      if (this.busy) {
        this.busy = false;
        this._setUncovered(this.uncovered);
      }
    },

    _clearPreview: function () {
      this.$preview.text("").removeClass("text-danger");
      this._setUncovered(false);
    },

    /* A territory the resource does not cover: Download stays disabled until the territory
     * or the selection mode changes. */
    _setUncovered: function (uncovered) {
      this.uncovered = uncovered;
      if (this.busy) { return; }
      this.$download.prop("disabled", uncovered);
      if (uncovered) { this.$download.attr("aria-disabled", "true"); }
      else { this.$download.removeAttr("aria-disabled"); }
    },

    _preview: function () {
      var self = this;
      var perimeter = this.perimeter;
      var query = { resource_id: this.options.resourceId, perimeter: perimeter };
      var mode = this.el.find(".dataclic-mode").val();
      if (mode) { query.mode = mode; }
      this._clearPreview();
      this.api("GET", "dataclic_extract_preview", query).then(function (p) {
        if (self.perimeter !== perimeter || (query.mode || null) !== (self.el.find(".dataclic-mode").val() || null)) {
          return;   // an answer for an older choice
        }
        var name = p.perimeter_name || self.perimeterName;
        if (p.source === "grid") { self._gridPreview(p, name); return; }
        if (p.rows_estimate === null || p.rows_estimate === undefined) {
          self.$preview.text(self.t("preview_unknown", { name: name }));
        } else if (p.rows_estimate === 0) {
          self.$preview.text(self.t("preview_none")).addClass("text-danger");
          self._setUncovered(p.covered === false);
          self._announce(self.t("preview_none"));
          return;
        } else {
          self.$preview.text(self.t(p.exact ? "preview_exact" : "preview",
                                    { count: self.numbers.format(p.rows_estimate), name: name },
                                    p.rows_estimate));
        }
        self.$preview.removeClass("text-danger");
      }, function (failure) {
        if (self.perimeter !== perimeter) { return; }
        if (failure && failure.status === 409) { self._showError(self.describeError(failure), false); }
      });
    },

    /* Extraction --------------------------------------------------------------------------- */

    _onDownload: function (event) {
      event.preventDefault();
      if (this.busy || this.uncovered) { return; }   // a second click while one runs starts nothing
      if (!this.perimeter) {
        this._showError(this.t("choose_territory"), false);
        this.$input.trigger("focus");
        return;
      }
      var problem = this.options.grid ? this._gridProblem() : null;
      if (problem) {
        this._showError(problem.message, false);
        problem.focus.trigger("focus");
        return;
      }
      this._startExtraction(this._request());
    },

    _startExtraction: function (request) {
      var self = this;
      var seq = ++this.extractionSeq;
      this.busy = true;
      this.lastAction = this._startExtraction.bind(this, request);
      this.$download.prop("disabled", true).attr("aria-disabled", "true");
      this._hideError();
      this.$result.prop("hidden", true);
      this.$publish.prop("hidden", true);
      this._setProgress(0);
      this.$bar.addClass("progress-bar-animated progress-bar-striped");
      this.$progress.prop("hidden", false);
      this._announce(this.t("queued"));
      this.api("POST", "dataclic_extract", request).then(function (record) {
        if (seq === self.extractionSeq) { self._track(record, seq); }
      }, function (failure) {
        if (seq === self.extractionSeq) { self._fail(self.describeError(failure)); }
      });
    },

    _track: function (record, seq) {
      var self = this;
      if (seq !== this.extractionSeq) { return; }   // the form changed since it started
      this.extraction = record;
      if (record.status === "done") { this._done(record); return; }
      if (record.status === "failed") { this._fail(record.error || ""); return; }
      var progress = record.progress || {};
      if (record.status === "running") {
        if (progress.percent !== null && progress.percent !== undefined) {
          this._setProgress(progress.percent);
          this._announceStep(progress.percent);
        } else {
          this.$status.text(this.t("running_unknown"));
        }
      }
      this.pollTimer = setTimeout(function () {
        self.api("GET", "dataclic_extract_show", { id: record.id }).then(
          function (next) { self._track(next, seq); },
          function (failure) { if (seq === self.extractionSeq) { self._fail(self.describeError(failure)); } }
        );
      }, POLL_MS);
    },

    _setProgress: function (percent) {
      var value = Math.max(0, Math.min(100, Math.round(percent)));
      this.$bar.css("width", value + "%").text(value + " %");
      this.$progress.find(".progress").attr("aria-valuenow", value);
    },

    /* Screen readers hear progress in quarters, not every poll. */
    _announceStep: function (percent) {
      var step = Math.floor(percent / 25) * 25;
      if (step !== this.lastStep) {
        this.lastStep = step;
        this._announce(this.t("running", { percent: step }));
      }
    },

    _done: function (record) {
      var self = this;
      this.busy = false;
      this.uncovered = false;
      this.lastStep = null;
      this._setProgress(100);
      this.$bar.removeClass("progress-bar-animated progress-bar-striped");
      this.$download.prop("disabled", false).removeAttr("aria-disabled");
      var $link = this.$result.find(".dataclic-download-link");
      $link.attr("href", record.download_url).attr("download", record.filename || "")
        .text(this.t("download", { filename: record.filename || "" }));
      var $report = this.$result.find(".dataclic-report").empty();
      var report = record.report || {};
      var n = function (v) { return self.numbers.format(v || 0); };
      if (report.kind === "grid" || this.options.grid) {
        this._gridSummary(record, $report);
        return;
      }
      $("<li>").text(this.t("rows_kept", { count: n(report.rows_kept) })).appendTo($report);
      if (report.rows_read) {
        $("<li>").text(this.t("rows_read", { count: n(report.rows_read) })).appendTo($report);
      }
      if (report.rows_remapped) {
        $("<li>").text(this.t("rows_remapped", { count: n(report.rows_remapped) })).appendTo($report);
      }
      if (report.rows_unknown_code) {
        $("<li>").text(this.t("rows_unknown", { count: n(report.rows_unknown_code) })).appendTo($report);
        var codes = (report.unknown_codes || []).slice(0, 10).map(function (pair) {
          return pair[0] + " (" + n(pair[1]) + ")";
        });
        if (codes.length) {
          $("<li>").text(this.t("unknown_codes", { codes: codes.join(", ") })).appendTo($report);
        }
      }
      if (report.rows_without_geometry) {
        $("<li>").text(this.t("rows_without_geometry", { count: n(report.rows_without_geometry) }))
          .appendTo($report);
      }
      this._finishReport(record, $report, this.t("rows_kept", { count: n(report.rows_kept) }));
    },

    /* The end of every report (date, time), then the result and the publish form appear. */
    _finishReport: function (record, $report, headline) {
      var report = record.report || {};
      var finished = this.formatDate(record.finished);
      if (finished) {
        $("<li>").text(this.t("extracted", { date: finished })).appendTo($report);
      }
      if (report.elapsed_s !== undefined && report.elapsed_s !== null) {
        $("<li>").text(this.t("elapsed", { seconds: Number(report.elapsed_s).toLocaleString(this.locale,
          { maximumFractionDigits: 1 }) })).appendTo($report);
      }
      this.$result.prop("hidden", false);
      this.$publish.prop("hidden", false);
      this.$publish.find(".dataclic-published").empty();
      this._announce(this.t("done") + ". " + headline);
    },

    _fail: function (reason) {
      clearTimeout(this.pollTimer);
      this.busy = false;
      this.lastStep = null;
      this.$progress.prop("hidden", true);
      this.$download.prop("disabled", false).removeAttr("aria-disabled");
      this._showError(this.t("failed", { reason: reason }), true);
    },

    _onRetry: function () {
      if (this.busy || !this.lastAction) { return; }
      this.lastAction();
    },

    _showError: function (message, retry) {
      this.$error.find(".dataclic-error-message").text(message);
      this.$error.find(".dataclic-retry").prop("hidden", !retry);
      this.$error.prop("hidden", false);
      this.$status.text("");
    },

    _hideError: function () {
      this.$error.prop("hidden", true);
    },

    _announce: function (message) {
      this.$status.text(message);
    },

    /* Publication -------------------------------------------------------------------------- */

    _onTargetChange: function () {
      var existing = this.$publish.find(".dataclic-target:checked").val() === "existing";
      this.$publish.find(".dataclic-dataset-field").prop("hidden", !existing);
      if (existing) { this._loadDatasets(); }
    },

    _loadDatasets: function () {
      var self = this;
      var $select = this.$publish.find(".dataclic-dataset");
      var org = this.$publish.find(".dataclic-org").val();
      if (this.$publish.find(".dataclic-dataset-field").prop("hidden")) { return; }
      $select.empty();
      this.api("GET", "package_search", {
        fq: "owner_org:" + org, rows: 100, include_private: true, sort: "title_string asc"
      }).then(function (found) {
        $.each(found.results || [], function (_i, pkg) {
          $("<option>", { value: pkg.id }).text(pkg.title || pkg.name).appendTo($select);
        });
      }, function (failure) { self._showError(self.describeError(failure), false); });
    },

    _onPublish: function (event) {
      event.preventDefault();
      if (this.publishing || !this.extraction) { return; }
      var self = this;
      var request = { id: this.extraction.id, owner_org: this.$publish.find(".dataclic-org").val() };
      if (this.$publish.find(".dataclic-target:checked").val() === "existing") {
        request.package_id = this.$publish.find(".dataclic-dataset").val();
        if (!request.package_id) { this._showError(this.t("choose_dataset"), false); return; }
      }
      var $button = this.$publish.find(".dataclic-publish-button").prop("disabled", true);
      var $out = this.$publish.find(".dataclic-published").text(this.t("publishing"));
      this.publishing = true;
      this.lastAction = this._onPublish.bind(this, event);
      this._hideError();
      this.api("POST", "dataclic_publish", request).then(function (published) {
        self.publishing = false;
        $button.prop("disabled", false);
        $out.empty();
        var $a = $("<a>", { href: self._localised(published.url), "class": "dataclic-published-link" })
          .text(published.package_name);
        $out.append(document.createTextNode(self.t("published", { title: "" })), $a);
        self._announce(self.t("published", { title: published.package_name }));
      }, function (failure) {
        self.publishing = false;
        $button.prop("disabled", false);
        $out.empty();
        self._showError(self.describeError(failure), true);
      });
    },

    /* A portal URL in the page's language (the API answers language-neutral URLs). */
    _localised: function (url) {
      var site = String(ckan.SITE_ROOT || "").replace(/\/$/, "");
      var local = String(ckan.LOCALE_ROOT || "").replace(/\/$/, "");
      if (site && local && local !== site && url.indexOf(site + "/") === 0 &&
          url.indexOf(local + "/") !== 0) {
        return local + url.slice(site.length);
      }
      return url;
    },

    teardown: function () {
      clearTimeout(this.pollTimer);
      clearTimeout(this.searchTimer);
    }
  }, window.dataclicExtractGrid || {});
});
