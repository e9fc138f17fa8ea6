// The inbox's live view: server-sent events add new messages and refresh queues without a reload.
// Everything inserted is HTML the server rendered and escaped; nothing here builds markup from data.
(function () {
  "use strict";

  function refreshTimers() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (cell) {
      var since = Date.parse(cell.getAttribute("data-since"));
      var alertAfter = Number(cell.getAttribute("data-alert") || "0");
      if (isNaN(since)) return;
      var minutes = Math.max(0, Math.floor((now - since) / 60000));
      var elapsed = cell.querySelector(".elapsed");
      if (elapsed && minutes < 60) elapsed.textContent = minutes + " min";
      if (alertAfter && minutes > alertAfter) cell.parentElement.classList.add("late");
    });
  }

  function start() {
    var live = document.querySelector("[data-live]");
    setInterval(refreshTimers, 30000);
    if (!live || !window.EventSource) return;
    var source = new EventSource(live.getAttribute("data-live"));
    source.addEventListener("entries", function (event) {
      var data = JSON.parse(event.data);
      var history = document.getElementById("history");
      if (!history) return;
      history.insertAdjacentHTML("beforeend", data.html);
      var last = history.lastElementChild;
      if (last) last.scrollIntoView({ block: "end" });
    });
    source.addEventListener("state", function (event) {
      var state = document.getElementById("state");
      if (state) state.outerHTML = JSON.parse(event.data).html;
    });
    source.addEventListener("queue", function (event) {
      var queue = document.getElementById("queue");
      if (queue) queue.outerHTML = JSON.parse(event.data).html;
    });
    source.addEventListener("logout", function () {
      source.close();
      window.location.href = "/inbox/login";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
