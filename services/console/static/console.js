// The console's only script: a conversation's timeline follows its server-sent events.
// Every page works without it; with it, new timeline entries appear as they are recorded.
"use strict";
(function () {
  const timeline = document.getElementById("timeline");
  if (!timeline || !window.EventSource) return;
  const live = document.getElementById("live");
  const source = new EventSource(timeline.dataset.stream);
  source.addEventListener("entry", function (event) {
    const holder = document.createElement("template");
    holder.innerHTML = event.data.trim();  // HTML the server rendered and escaped
    const entry = holder.content.firstElementChild;
    if (!entry || document.getElementById(entry.id)) return;
    timeline.appendChild(entry);
    entry.classList.add("new");
  });
  source.addEventListener("open", function () { if (live) { live.textContent = "live"; live.className = "live"; } });
  source.addEventListener("error", function () { if (live) { live.textContent = "reconnecting"; live.className = "live off"; } });
})();
