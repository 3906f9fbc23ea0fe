// c66d live views. Pages work without this file; with it:
// - <body data-events="stack=shop&kinds=deployment."> listens to /api/v1/events and, on each
//   event, re-fetches the page and swaps every element marked data-live (by id);
// - <pre data-follow="/api/v1/builds/7/log?follow=1"> streams a log into itself.
"use strict";
(function () {
  var KINDS = ["build.queued", "build.started", "build.finished", "deployment.started",
    "deployment.step", "deployment.finished", "container.started", "container.healthy",
    "container.draining", "container.stopped", "container.removed", "server.up",
    "server.down", "server.added", "server.removed", "stack.created", "stack.updated",
    "stack.deleted", "service.scaled", "registry.pushed"];
  var timer = null;

  function busy(el) {
    var active = document.activeElement;
    return active && el.contains(active) && /INPUT|TEXTAREA|SELECT/.test(active.tagName);
  }

  function refresh() {
    timer = null;
    fetch(location.href, {credentials: "same-origin", headers: {"X-C66d-Live": "1"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (next && !busy(el) && next.innerHTML !== el.innerHTML) {
            el.innerHTML = next.innerHTML;
          }
        });
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {});
  }

  function listen(query) {
    var source = new EventSource("/api/v1/events?" + query);
    var badge = document.getElementById("live-state");
    source.onopen = function () { if (badge) { badge.textContent = "live"; } };
    source.onerror = function () { if (badge) { badge.textContent = "reconnecting"; } };
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function () {
        if (!timer) { timer = setTimeout(refresh, 250); }
      });
    });
  }

  function follow(pre) {
    var url = pre.getAttribute("data-follow");
    fetch(url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok || !r.body) { return; }
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var first = true;
      function pump() {
        return reader.read().then(function (part) {
          if (part.done) {
            pre.setAttribute("data-follow-state", "ended");
            if (document.body.getAttribute("data-events")) { refresh(); }
            return;
          }
          var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
          if (first) { pre.textContent = ""; first = false; }
          pre.textContent += decoder.decode(part.value, {stream: true});
          if (atBottom) { pre.scrollTop = pre.scrollHeight; }
          return pump();
        });
      }
      pre.setAttribute("data-follow-state", "following");
      return pump();
    }).catch(function () { pre.setAttribute("data-follow-state", "failed"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var query = document.body.getAttribute("data-events");
    if (query !== null) { listen(query); }
    document.querySelectorAll("pre[data-follow]").forEach(follow);
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var target = document.getElementById(b.getAttribute("data-copy"));
        if (target && navigator.clipboard) { navigator.clipboard.writeText(target.textContent); }
      });
    });
  });
})();
