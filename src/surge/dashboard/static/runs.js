// The Runs page: one box ticks every run shown; the first page follows new runs and ended
// ones live (server-sent events from /runs/live), unless runs are ticked.
(function () {
  const all = document.getElementById("tick-all");
  const rows = document.getElementById("run-rows");
  const live = document.getElementById("live");
  if (all) {
    all.addEventListener("change", function () {
      for (const box of rows.querySelectorAll('input[name="run"]')) box.checked = all.checked;
    });
  }
  const params = new URLSearchParams(location.search);
  if (params.has("cursor") || params.get("if") || !window.EventSource) return;
  params.delete("notice");
  const source = new EventSource("/runs/live?" + params.toString());
  source.addEventListener("open", function () { live.textContent = "Live."; });
  source.addEventListener("runs", function (message) {
    if (rows.querySelector('input[name="run"]:checked')) {
      live.textContent = "Runs changed: reload to see them (some are ticked).";
      return;
    }
    const focus = focused();
    rows.innerHTML = message.data;
    if (window.surge) window.surge.enhance(rows); // its times, in the viewer's zone
    if (focus) refocus(focus);
    live.textContent = "Live.";
  });

  // A keyboard user's place in the list (a row's link or button) survives the rows' update.
  const FOCUSABLE = "a, button, input";
  function focused() {
    const row = document.activeElement && document.activeElement.closest("#run-rows tr");
    if (!row) return null;
    const index = Array.from(row.querySelectorAll(FOCUSABLE)).indexOf(document.activeElement);
    return { run: row.dataset.run, index: index };
  }
  function refocus(focus) {
    const row = Array.from(rows.querySelectorAll("tr[data-run]"))
      .find(function (tr) { return tr.dataset.run === focus.run; });
    const target = row && row.querySelectorAll(FOCUSABLE)[focus.index];
    if (target) target.focus();
  }
})();
