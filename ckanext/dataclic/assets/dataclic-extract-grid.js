/* The "Extract for a territory" panel's parts for gridded resources (NetCDF, GeoTIFF, DRIAS
 * text exports; issue #16), mixed into ckan.module("dataclic-extract") (dataclic-extract.js,
 * which comes after this file in the same bundle).
 *
 * The modes are "stats" and "clip"; the format list follows the chosen mode (each format
 * <option> lists its modes in data-modes, from formats_by_mode); the variables, the labels
 * of the other dimensions and the threshold (stats only) are sent with the request; the report
 * names communes, layers, rows written, variables and the communes the grid does not reach.
 */
window.dataclicExtractGrid = (function ($) {
  "use strict";

  return {
    /* Grids: only the formats of the chosen mode (keeping the chosen one when it fits), and
     * the threshold for statistics only. */
    _applyModeFormats: function () {
      if (!this.options.grid) { return; }
      var mode = this.el.find(".dataclic-mode").val();
      var $select = this.el.find(".dataclic-format");
      var current = $select.val();
      var fitting = this.$formatOptions.filter(function () {
        var modes = String($(this).attr("data-modes") || "").split(" ");
        return !mode || modes.indexOf(mode) >= 0;
      }).clone();
      $select.empty().append(fitting);
      if (fitting.filter(function () { return this.value === current; }).length) {
        $select.val(current);
      }
      this.el.find(".dataclic-threshold-field").prop("hidden", mode !== "stats");
    },

    /* The variables and labels ticked, and the threshold. Nothing is sent for a choice left
     * whole (the server's default: everything), so the same choice is the same extraction. */
    _gridChoices: function (mode) {
      var el = this.el;
      var choices = {};
      var $vars = el.find(".dataclic-variable");
      var $ticked = $vars.filter(":checked");
      if ($ticked.length < $vars.length) {
        choices.variables = $ticked.map(function () { return this.value; }).get();
      }
      var used = {};
      $ticked.each(function () {
        $.each(String($(this).attr("data-dims") || "").split(" "), function (_i, d) {
          if (d) { used[d] = true; }
        });
      });
      var labels = {};
      el.find(".dataclic-dimension").each(function () {
        var dim = $(this).attr("data-dimension");
        var $boxes = $(this).find(".dataclic-label");
        var $kept = $boxes.filter(":checked");
        if (used[dim] && $kept.length < $boxes.length) {
          labels[dim] = $kept.map(function () { return this.value; }).get();
        }
      });
      if (!$.isEmptyObject(labels)) { choices.labels = labels; }
      var $threshold = el.find(".dataclic-threshold");
      if (mode === "stats" && $threshold.length && $threshold.val() !== "") {
        choices.threshold = Number($threshold.val());
      }
      return choices;
    },

    /* A message when the grid choices cannot make an extraction, else null. */
    _gridProblem: function () {
      var el = this.el;
      var self = this;
      var $ticked = el.find(".dataclic-variable:checked");
      if (!$ticked.length) { return { message: this.t("grid_choose_variable"), focus: el.find(".dataclic-variable").first() }; }
      var used = {};
      $ticked.each(function () {
        $.each(String($(this).attr("data-dims") || "").split(" "), function (_i, d) {
          if (d) { used[d] = true; }
        });
      });
      var problem = null;
      el.find(".dataclic-dimension").each(function () {
        var dim = $(this).attr("data-dimension");
        if (!problem && used[dim] && !$(this).find(".dataclic-label:checked").length) {
          problem = { message: self.t("grid_choose_label", { dimension: dim }),
                      focus: $(this).find(".dataclic-label").first() };
        }
      });
      if (problem) { return problem; }
      var threshold = el.find(".dataclic-threshold").get(0);
      if (threshold && el.find(".dataclic-mode").val() === "stats" &&
          ((threshold.validity && threshold.validity.badInput) ||
           (threshold.value !== "" && !isFinite(Number(threshold.value))))) {
        return { message: this.t("grid_bad_threshold"), focus: $(threshold) };
      }
      return null;
    },

    /* A grid's preview: how many communes get values, or that the grid misses the
     * territory (Download disabled, as for a file that does not cover it). */
    _gridPreview: function (p, name) {
      if (p.covered === false) {
        this.$preview.text(this.t("grid_preview_none")).addClass("text-danger");
        this._setUncovered(true);
        this._announce(this.t("grid_preview_none"));
        return;
      }
      this.$preview.removeClass("text-danger").text(this.t("grid_preview",
        { count: this.numbers.format(p.communes || 0), name: name }, p.communes || 0));
    },

    /* A grid's report: communes, layers, rows written (stats), variables, threshold, and
     * the communes the grid does not reach. */
    _gridSummary: function (record, $report) {
      var self = this;
      var report = record.report || {};
      var n = function (v) { return self.numbers.format(v || 0); };
      var line = function (text) { $("<li>").text(text).appendTo($report); };
      var communes = this.t("grid_communes", { count: n(report.communes) });
      line(communes);
      line(this.t("grid_layers", { count: n(report.layers) }));
      if (report.mode !== "clip") {
        line(this.t("grid_rows", { count: n(report.rows_written) }));
      }
      if (report.variables && report.variables.length) {
        line(this.t("grid_variables", { names: report.variables.join(", ") }));
      }
      if (report.threshold !== undefined && report.threshold !== null) {
        line(this.t("grid_threshold", { value: this.numbers.format(report.threshold) }));
      }
      var outside = report.communes_without_value || [];
      if (outside.length) {
        line(this.t("grid_outside", { count: n(outside.length),
                                       codes: outside.slice(0, 10).join(", ") +
                                              (outside.length > 10 ? "…" : "") },
                    outside.length));
      }
      this._finishReport(record, $report, communes);
    }
  };
})(jQuery);
