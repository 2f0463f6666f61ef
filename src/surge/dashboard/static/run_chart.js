// The function page's run chart (run_chart.py), its times in the viewer's time zone: the
// axis labels, and each bar's title (its tooltip and accessible name). The server wrote them
// in UTC, with the instants in data- attributes; without this script they stay in UTC and
// the note under the chart says so.
"use strict";
(function () {
  const chart = document.querySelector("svg.run-chart");
  if (!chart) return;
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", numberingSystem: "latn" };
  const time = new Intl.DateTimeFormat(undefined, options);
  const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const full = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", ...options, timeZoneName: "short",
  });
  const zone = (full.formatToParts(new Date()).find((p) => p.type === "timeZoneName") || {}).value;

  function valid(text) {
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  for (const label of chart.querySelectorAll("text[data-at]")) {
    const at = valid(label.dataset.at);
    if (at) label.textContent = (label.dataset.format === "day" ? day : time).format(at);
  }
  for (const bar of chart.querySelectorAll("a.bar[data-start]")) {
    const start = valid(bar.dataset.start);
    const end = valid(bar.dataset.end);
    if (!start || !end) continue;
    const title = bar.querySelector("title");
    if (title) title.textContent = `${full.formatRange(start, end)}: ${bar.dataset.says}`;
  }
  const note = document.querySelector(".chart-zone");
  if (note && zone) note.textContent = `Times in your time zone (${zone}).`;
})();
