// What every page shares. Loaded with `defer` by base.html.
//  * Times: each <time datetime="...Z"> the server wrote in UTC is shown in the viewer's time
//    zone, its UTC text kept as the title.
//  * Copy buttons (templates/_macros.html) put an id on the clipboard and say so.
//  * Time inputs marked data-utc (the Runs filter) are filled in the viewer's time zone and
//    sent in UTC, which is how the server reads them; without this script they say UTC.
// Parts of a page replaced later (the live Runs list) are passed to surge.enhance(part).
"use strict";
window.surge = (function () {
  document.documentElement.classList.add("scripted"); // copy buttons show (dashboard.css)

  const clock = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", timeZoneName: "short", numberingSystem: "latn",
  });

  function parts(date) {
    const found = {};
    for (const part of clock.formatToParts(date)) found[part.type] = part.value;
    return found;
  }

  // As the server writes times ("2026-12-03 09:30:05 UTC"), in the viewer's zone.
  function local(date) {
    const p = parts(date);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
  }

  function localizeTimes(root) {
    for (const time of root.querySelectorAll("time[datetime]")) {
      if (time.dataset.localized) continue;
      const date = new Date(time.dateTime);
      if (Number.isNaN(date.getTime())) continue;
      time.dataset.localized = "yes";
      time.title = time.textContent;
      time.textContent = local(date);
    }
  }

  // Copying. One listener for every copy button, those added later too.
  const announcer = document.createElement("p");
  announcer.className = "visually-hidden";
  announcer.setAttribute("aria-live", "polite");
  document.body.append(announcer);

  function announce(message) {
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = message; }, 50);
  }

  // Without the Clipboard API (a page served over plain http from another host): a hidden
  // text area copied with execCommand, or else the id selected for the viewer to copy.
  function fallback(button, text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    area.remove();
    button.focus();
    if (copied) return true;
    const shown = Array.from(button.parentElement.querySelectorAll("code"))
      .find(function (code) { return code.textContent.trim() === text; });
    if (shown) {
      const range = document.createRange();
      range.selectNodeContents(shown);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    return false;
  }

  async function copy(button) {
    const text = button.dataset.copy;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (error) {
      copied = fallback(button, text);
    }
    const message = copied ? "Copied" : "Selected: press Ctrl+C (⌘C) to copy";
    button.textContent = copied ? "Copied" : "Selected";
    button.classList.add("done");
    announce(copied ? `Copied ${text}` : message);
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(function () {
      button.textContent = "Copy";
      button.classList.remove("done");
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.copy");
    if (button) copy(button);
  });

  // The runs filter's times: what is typed is the viewer's time, a hidden field carries it
  // in UTC ("2026-12-03T09:30", as datetime-local writes it) under the input's name.
  function pad(n, width) { return String(n).padStart(width || 2, "0"); }

  function fields(text) {
    const match = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(text || "");
    return match ? match.slice(1).map(Number) : null;
  }

  function utcToLocal(text) {
    const f = fields(text);
    if (!f) return "";
    const d = new Date(Date.UTC(f[0], f[1] - 1, f[2], f[3], f[4]));
    return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function localToUtc(text) {
    const f = fields(text);
    if (!f) return "";
    const d = new Date(f[0], f[1] - 1, f[2], f[3], f[4]);
    return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }

  function localizeInputs(root) {
    const zone = parts(new Date()).timeZoneName;
    const place = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (const input of root.querySelectorAll('input[type="datetime-local"][data-utc]')) {
      if (!input.name) continue; // done already
      const sent = document.createElement("input");
      sent.type = "hidden";
      sent.name = input.name;
      sent.value = input.defaultValue; // as the server wrote it, whatever a reload restored
      input.removeAttribute("name");
      input.after(sent);
      input.value = utcToLocal(sent.value);
      const update = function () { sent.value = localToUtc(input.value); };
      input.addEventListener("input", update);
      input.addEventListener("change", update);
      const label = input.closest("label");
      const hint = label && label.querySelector(".zone");
      if (hint) hint.textContent = `(your time, ${zone})`;
      input.title = `In your time zone${place ? " (" + place + ")" : ""}; sent as UTC`;
    }
  }

  function enhance(root) {
    localizeTimes(root);
    localizeInputs(root);
  }

  enhance(document);
  return { enhance: enhance };
})();
