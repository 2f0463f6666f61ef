// The Runs page: one box ticks every run shown.
(function () {
  const all = document.getElementById("tick-all");
  if (!all) return;
  all.addEventListener("change", function () {
    for (const box of document.querySelectorAll('#selected input[name="run"]')) {
      box.checked = all.checked;
    }
  });
})();
