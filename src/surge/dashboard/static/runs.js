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
  if (params.has("cursor") || !window.EventSource) return;
  params.delete("notice");
  const source = new EventSource("/runs/live?" + params.toString());
  source.addEventListener("open", function () { live.textContent = "Live."; });
  source.addEventListener("runs", function (message) {
    if (rows.querySelector('input[name="run"]:checked')) {
      live.textContent = "Runs changed: reload to see them (some are ticked).";
      return;
    }
    rows.innerHTML = message.data;
    live.textContent = "Live.";
  });
})();
