/* cxlens web app: small progressive enhancements (the pages work without them, except the charts).
   No inline scripts anywhere: the Content-Security-Policy allows same-origin scripts only. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  // filters and dataset pickers: submit on change
  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { if (sel.form) sel.form.requestSubmit(); });
    });
  }

  // drag and drop onto the upload zone
  function dropzone() {
    var zone = document.getElementById("drop");
    var input = document.getElementById("file");
    if (!zone || !input) return;
    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        zone.querySelector("span").textContent = e.dataTransfer.files[0].name;
      }
    });
    input.addEventListener("change", function () {
      if (input.files.length) zone.querySelector("span").textContent = input.files[0].name;
    });
  }

  // charts: Vega-Lite specs from <script type="application/json" id="spec-NAME">; a click on a mark with an
  // href opens the comments behind it (vega-embed follows `href` encodings)
  function charts() {
    if (typeof window.vegaEmbed !== "function") return;
    document.querySelectorAll("[data-vega]").forEach(function (el) {
      var src = document.getElementById("spec-" + el.getAttribute("data-vega"));
      if (!src) return;
      var spec = JSON.parse(src.textContent);
      window.vegaEmbed(el, spec, { mode: "vega-lite", actions: false, renderer: "svg", defaultStyle: false })
        .catch(function (err) { el.textContent = String(err); });
    });
  }

  // review: character offsets of the selection inside the comment (code points, as Python counts them)
  function offsetIn(container, node, offset) {
    var range = document.createRange();
    range.setStart(container, 0);
    range.setEnd(node, offset);
    return Array.from(range.toString()).length;
  }

  function review() {
    var form = document.getElementById("review-form");
    var text = document.getElementById("review-text");
    if (!form || !text) return;
    var focusedTp = null;
    form.querySelectorAll("select[data-tp]").forEach(function (sel) {
      sel.addEventListener("focus", function () { focusedTp = sel.getAttribute("data-tp"); });
    });
    function useSelection(tp) {
      var sel = window.getSelection();
      if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return false;
      var r = sel.getRangeAt(0);
      if (!text.contains(r.startContainer) || !text.contains(r.endContainer)) return false;
      var start = offsetIn(text, r.startContainer, r.startOffset);
      var end = offsetIn(text, r.endContainer, r.endOffset);
      if (end <= start) return false;
      document.getElementById("ev_" + tp).value = start + "-" + end;
      var pol = document.getElementById("tp_" + tp);
      if (pol && !pol.value) pol.value = "negative";
      return true;
    }
    form.querySelectorAll("button.use-selection").forEach(function (b) {
      b.addEventListener("mousedown", function (e) { e.preventDefault(); });  // keep the text selection
      b.addEventListener("click", function () { useSelection(b.getAttribute("data-tp")); });
    });
    document.addEventListener("keydown", function (e) {
      var tag = (e.target && e.target.tagName) || "";
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); form.requestSubmit(); return; }
      if (tag === "INPUT" && e.target.type !== "radio" || tag === "TEXTAREA" || e.altKey || e.ctrlKey || e.metaKey) return;
      if (/^[1-4]$/.test(e.key)) {
        var radio = form.querySelector('input[name="sentiment"][data-key="' + e.key + '"]');
        if (radio) { radio.checked = true; e.preventDefault(); }
      } else if ((e.key === "e" || e.key === "E") && focusedTp) {
        if (useSelection(focusedTp)) e.preventDefault();
      } else if (e.key === "n" || e.key === "N") {
        var next = document.getElementById("next"); if (next) next.click();
      } else if (e.key === "p" || e.key === "P") {
        var prev = document.getElementById("prev"); if (prev) prev.click();
      }
    });
  }

  ready(function () {
    autosubmit(document);
    dropzone();
    charts();
    review();
  });
})();
