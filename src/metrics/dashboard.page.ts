// The /dashboard page: static HTML, CSS and a small browser script that draws uPlot charts. It first
// fetches GET /dashboard/history: the server's ring of the last 15 minutes of points (one a second,
// taken by the process's DashboardSampler whether or not a page is open; see dashboard.sampler.ts),
// draws them at once, then opens /dashboard/stream?after=<t of the last history point>, which sends
// only newer points: no gap and no duplicate at the seam (the script also drops any point not newer
// than the last it drew). A panel with nothing to draw shows why (the point's `notes`, or "no data
// in the last …" when its window holds no value) instead of blank axes.
// Everything is same-origin (a strict CSP is sent with the page).

export const DASHBOARD_CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

export const dashboardHtml = (version: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pexd ${version.replace(/[<>&"]/g, "")} dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/uPlot.min.css">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head>
<body>
<header><h1>pexd dashboard</h1><span id="status" data-state="connecting">connecting…</span><span class="muted">the last 15 minutes, then every second, from <a href="/metrics">/metrics</a> counters</span></header>
<main id="panels"></main>
<script src="/dashboard/assets/uPlot.iife.min.js"></script>
<script src="/dashboard/assets/dashboard.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `
body { font: 14px system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d232b; }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.6em 1em; background: #1d232b; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; }
header a { color: #9cc3ff; }
.muted { color: #9aa3ad; font-size: 0.9em; }
#status[data-state="live"] { color: #7ee787; }
#status[data-state="error"] { color: #ff7b72; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; padding: 12px; }
.panel { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 10px; }
.panel h2 { font-size: 0.95em; margin: 0 0 2px; display: flex; justify-content: space-between; }
.panel .value { font-variant-numeric: tabular-nums; font-weight: 600; }
.panel .value.na { color: #9aa3ad; font-weight: 400; }
.chart { position: relative; }
.panel.empty .uplot { visibility: hidden; }
.note { position: absolute; inset: 0; margin: 0; display: flex; align-items: center; justify-content: center; color: #6b7580; }
.note[hidden] { display: none; }
`;

/** Browser script (plain ES2017, no build step). Written without template literals on purpose. */
export const DASHBOARD_JS = `"use strict";
(function () {
  var keep = 900; // points per chart: the server's ring capacity, from /dashboard/history
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
  var fmt = function (v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : Number(v.toFixed(digits === undefined ? 2 : digits)).toString();
  };
  var mib = function (b) { return b === null ? null : b / 1048576; };
  // Each panel: id (the server's notes use the same ids), title, series (label + getter), whether its
  // module is present, and the headline's digits.
  var PANELS = [
    { id: "rps", title: "Requests / s", series: [["req/s", function (p) { return p.rps; }]] },
    { id: "latency", title: "HTTP latency p50 / p99 (ms)", series: [["p50 ms", function (p) { return p.p50_ms; }], ["p99 ms", function (p) { return p.p99_ms; }]] },
    { id: "status", title: "Status mix (responses / s)", series: [["2xx", function (p) { return p.status["2xx"]; }], ["3xx", function (p) { return p.status["3xx"]; }], ["4xx", function (p) { return p.status["4xx"]; }], ["5xx", function (p) { return p.status["5xx"]; }]] },
    { id: "cache", title: "Eth cache hit ratio (%)", present: function (p) { return p.present.cache; }, series: [["hit %", function (p) { return p.cache_hit_ratio === null ? null : p.cache_hit_ratio * 100; }]] },
    { id: "upstream", title: "Upstream latency p50 / p99 (ms)", present: function (p) { return p.present.upstream; }, series: [["p50 ms", function (p) { return p.upstream_p50_ms; }], ["p99 ms", function (p) { return p.upstream_p99_ms; }]] },
    { id: "head", title: "Head block", present: function (p) { return p.gauges.head_block !== null; }, series: [["head", function (p) { return p.gauges.head_block; }]], digits: 0 },
    { id: "fib", title: "Fibonacci index", series: [["index", function (p) { return p.gauges.fib_index; }]], digits: 0 },
    { id: "widgets", title: "Widgets", present: function (p) { return p.present.widgets; }, series: [["widgets", function (p) { return p.gauges.widgets; }]], digits: 0 },
    { id: "relay", title: "Relay clients", present: function (p) { return p.present.relay; }, series: [["clients", function (p) { return p.gauges.relay_clients; }]], digits: 0 },
    { id: "memory", title: "Memory (MiB)", series: [["RSS", function (p) { return mib(p.gauges.rss_bytes); }], ["heap", function (p) { return mib(p.gauges.heap_bytes); }]] },
  ];
  var root = document.getElementById("panels");
  var status = document.getElementById("status");
  var body = document.body.dataset;
  var xs = [];
  PANELS.forEach(function (panel) {
    var el = document.createElement("section");
    el.className = "panel";
    el.id = "panel-" + panel.id;
    var h = document.createElement("h2");
    var t = document.createElement("span");
    t.textContent = panel.title;
    var v = document.createElement("span");
    v.className = "value";
    v.id = "value-" + panel.id;
    v.textContent = "–";
    h.appendChild(t);
    h.appendChild(v);
    el.appendChild(h);
    var chart = document.createElement("div");
    chart.className = "chart";
    var note = document.createElement("p");
    note.className = "note";
    note.id = "note-" + panel.id;
    note.hidden = true;
    el.appendChild(chart);
    root.appendChild(el);
    panel.el = el;
    panel.valueEl = v;
    panel.noteEl = note;
    panel.data = [xs].concat(panel.series.map(function () { return []; }));
    panel.plot = new uPlot({
      width: Math.max(300, chart.clientWidth || 400),
      height: 160,
      legend: { live: false },
      cursor: { show: false },
      scales: { x: { time: true } },
      series: [{}].concat(panel.series.map(function (s, i) { return { label: s[0], stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }; })),
      axes: [{}, { size: 60 }],
    }, panel.data, chart);
    chart.appendChild(note);
  });
  window.addEventListener("resize", function () {
    PANELS.forEach(function (p) { p.plot.setSize({ width: Math.max(300, p.plot.root.parentNode.clientWidth), height: 160 }); });
  });
  var lastT = null;
  // Appends one point to every chart's columns; false (and nothing drawn) for a point not newer than
  // the last one: the seam guard, so a point is never drawn twice.
  function add(p) {
    if (lastT !== null && p.t <= lastT) {
      body.dropped = String(Number(body.dropped || 0) + 1);
      return false;
    }
    lastT = p.t;
    xs.push(p.t / 1000);
    var over = xs.length > keep;
    if (over) xs.shift();
    PANELS.forEach(function (panel) {
      var present = panel.present ? panel.present(p) : true;
      panel.series.forEach(function (s, i) {
        var col = panel.data[i + 1];
        col.push(present ? s[1](p) : null);
        if (over) col.shift();
      });
    });
    return true;
  }
  function hasValue(panel) {
    for (var i = 1; i < panel.data.length; i++)
      for (var j = 0; j < panel.data[i].length; j++) if (panel.data[i][j] !== null && panel.data[i][j] !== undefined) return true;
    return false;
  }
  function span() {
    var s = xs.length > 1 ? Math.round(xs[xs.length - 1] - xs[0]) : 0;
    return s < 120 ? s + " s" : Math.round(s / 60) + " min";
  }
  // Redraws every chart and sets the headlines and notes from the newest point.
  function render(p) {
    PANELS.forEach(function (panel) {
      panel.plot.setData(panel.data);
      var present = panel.present ? panel.present(p) : true;
      if (!present) {
        panel.valueEl.textContent = "n/a";
        panel.valueEl.className = "value na";
      } else {
        panel.valueEl.className = "value";
        panel.valueEl.textContent = panel.series.map(function (s) { return fmt(s[1](p), panel.digits); }).join(" / ");
      }
      var why = (p.notes && p.notes[panel.id]) || (hasValue(panel) ? "" : "no data in the last " + span());
      panel.noteEl.textContent = why;
      panel.noteEl.hidden = !why;
      panel.el.classList.toggle("empty", !!why);
    });
  }
  var points = 0;
  function connect(after) {
    var es = new EventSource("/dashboard/stream" + (after === null ? "" : "?after=" + after));
    es.addEventListener("point", function (ev) {
      status.textContent = "live";
      status.dataset.state = "live";
      var p = JSON.parse(ev.data);
      if (!add(p)) return;
      if (points === 0) body.seam = String(p.t);
      render(p);
      points++;
      body.points = String(points);
    });
    es.onerror = function () {
      status.textContent = "reconnecting…";
      status.dataset.state = "error";
    };
  }
  // History first (drawn at once), then the live stream from just after its last point.
  fetch("/dashboard/history", { headers: { Accept: "application/json" }, cache: "no-store" })
    .then(function (r) {
      if (!r.ok) throw new Error("history: HTTP " + r.status);
      return r.json();
    })
    .then(function (h) {
      keep = Math.max(2, h.capacity);
      h.points.forEach(add);
      if (h.points.length) render(h.points[h.points.length - 1]);
      body.history = String(h.points.length);
      body.historyLast = lastT === null ? "" : String(lastT);
      connect(lastT);
    }, function () {
      body.history = "0";
      connect(null);
    });
})();
`;
