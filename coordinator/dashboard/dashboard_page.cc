// The dashboard page: one HTML document with its style and script inline (nothing from a CDN, so it
// works on a cluster without internet). The script polls the JSON routes of dashboard.h: the status
// and new events every second, the step curves every two seconds; it draws the curves as SVG
// itself.
#include "coordinator/dashboard/dashboard.h"

namespace murmur::coordinator {

const std::string& DashboardPage() {
  static const std::string* const page = new std::string(R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>murmur job</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 76rem; color: #222;
         padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .3rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
  .summary { display: flex; flex-wrap: wrap; gap: .4rem 1.6rem; margin: .6rem 0; }
  .summary div span { color: #666; margin-right: .3rem; }
  .badge { display: inline-block; padding: .1rem .6rem; border-radius: .8rem; font-weight: 600;
           background: #eee; }
  .badge.running, td.active { color: #1a7f37; } .badge.waiting, td.standby, td.draining { color: #9a6700; }
  .badge.finished { color: #0969da; } .badge.failed, td.dead, td.left { color: #c0392b; }
  #updated { color: #666; font-size: .9rem; } #updated.error { color: #c0392b; font-weight: 600; }
  #message { color: #555; }
  table { border-collapse: collapse; width: 100%; font-size: .92rem; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
  .chart h3 { font-size: .95rem; margin: 0 0 .2rem; font-weight: 600; }
  svg { width: 100%; height: 14rem; background: #fafafa; border: 1px solid #e5e5e5; }
  svg text { font-size: 11px; fill: #555; } svg .grid { stroke: #e3e3e3; }
  svg .evaluation { stroke: #b9c7d8; stroke-dasharray: 3 3; }
  .legend { font-size: .85rem; color: #555; } .legend i { display: inline-block; width: .9rem;
           height: .2rem; margin: 0 .3rem .2rem .6rem; vertical-align: middle; }
  .two { display: grid; grid-template-columns: 3fr 1fr; gap: 1.5rem; align-items: start; }
  #confusion td, #confusion th { text-align: center; }
  tr.best td:first-child::before { content: "\2605 "; color: #d4a017; }
  #events { max-height: 22rem; overflow-y: auto; display: block; }
</style>
</head>
<body>
<h1>murmur job <span id="state" class="badge">…</span></h1>
<div id="updated">connecting…</div>
<div class="summary">
  <div><span>generation</span><b id="generation">-</b></div>
  <div><span>epoch</span><b id="epoch">-</b></div>
  <div><span>step</span><b id="step">-</b></div>
  <div><span>samples/s</span><b id="rate">-</b></div>
  <div><span>train loss</span><b id="loss">-</b></div>
  <div><span>ETA</span><b id="eta">-</b></div>
  <div><span>workers</span><b id="limits">-</b></div>
  <div><span>best by</span><b id="best">-</b></div>
</div>
<div id="message"></div>

<h2>Members</h2>
<table id="members">
  <thead><tr><th>rank</th><th>name</th><th>host</th><th>state</th><th class="num">step</th>
    <th class="num">samples/s</th><th class="num">last heartbeat</th><th>worker id</th></tr></thead>
  <tbody></tbody>
</table>

<h2>Training</h2>
<div class="charts">
  <div class="chart"><h3>loss</h3><svg id="chart-loss"></svg>
    <div class="legend"><i style="background:#0969da"></i>train (per step)<i style="background:#c0392b"></i>validation (per evaluation)</div></div>
  <div class="chart"><h3>learning rate</h3><svg id="chart-lr"></svg></div>
  <div class="chart"><h3>throughput (samples/s, all workers)</h3><svg id="chart-rate"></svg></div>
  <div class="chart"><h3 id="accuracy-title">validation accuracy</h3><svg id="chart-accuracy"></svg></div>
</div>

<h2>Validation</h2>
<div class="two">
  <table id="evaluations">
    <thead><tr><th class="num">epoch</th><th class="num">step</th><th class="num">loss</th>
      <th class="num" id="accuracy-head">accuracy</th><th class="num">precision (neg / pos)</th>
      <th class="num">recall (neg / pos)</th><th class="num">F1 (neg / pos)</th><th class="num">examples</th></tr></thead>
    <tbody></tbody>
  </table>
  <div><b>confusion matrix</b> <span id="confusion-of"></span>
    <table id="confusion"><thead><tr><th>true \ predicted</th><th>negative</th><th>positive</th></tr></thead>
      <tbody></tbody></table></div>
</div>

<h2>Accounting (every training sample exactly once an epoch)</h2>
<table id="accounting">
  <thead><tr><th class="num">epoch</th><th class="num">samples</th><th class="num">consumed</th>
    <th class="num">duplicated</th><th>complete</th></tr></thead>
  <tbody></tbody>
</table>

<h2>Checkpoints</h2>
<table id="checkpoints">
  <thead><tr><th class="num">step</th><th class="num">epoch</th><th class="num">loss</th>
    <th class="num">accuracy</th><th class="num">F1 pos</th><th>published as</th><th>checkpoint</th></tr></thead>
  <tbody></tbody>
</table>

<h2>Events</h2>
<table id="events">
  <thead><tr><th>time</th><th>event</th><th class="num">generation</th><th class="num">step</th><th>detail</th></tr></thead>
  <tbody></tbody>
</table>

<script>
"use strict";
const $ = id => document.getElementById(id);
const word = s => String(s || "").replace(/^(JOB|WORKER)_/, "").toLowerCase();
const fixed = (v, d) => (v === undefined || v === null || isNaN(v)) ? "-" : Number(v).toFixed(d);
const pair = (a, d) => (a && a.length >= 2) ? fixed(a[0], d) + " / " + fixed(a[1], d) : "-";
function duration(seconds) {
  if (!(seconds > 0)) return "-";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  return h > 0 ? h + " h " + m + " min" : m > 0 ? m + " min " + (s % 60) + " s" : s + " s";
}
// Replaces the rows of a table body; each cell is text or [text, className, title].
function fill(id, rows, rowClass) {
  const body = $(id).querySelector("tbody");
  const fresh = document.createElement("tbody");
  rows.forEach((cells, i) => {
    const tr = document.createElement("tr");
    if (rowClass) tr.className = rowClass(i);
    for (const c of cells) {
      const td = document.createElement("td");
      const [text, cls, title] = Array.isArray(c) ? c : [c, ""];
      td.textContent = text;
      if (cls) td.className = cls;
      if (title) td.title = title;
      tr.appendChild(td);
    }
    fresh.appendChild(tr);
  });
  body.replaceWith(fresh);
}

// ---- charts: nice ticks, a grid, lines and dots, dashed lines at the evaluations
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(f => f * mag).find(s => s >= raw);
  const first = Math.floor(lo / step) * step, ticks = [];
  for (let t = first; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  if (ticks[ticks.length - 1] < hi) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}
function label(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}
// xMax: the job's step, so every chart spans the same steps.
function chart(svg, series, markSteps, xMax, yRange) {
  const W = svg.clientWidth || 400, H = svg.clientHeight || 220, L = 52, R = 10, T = 10, B = 28;
  const xs = [], ys = [];
  for (const s of series) { xs.push(...s.x); ys.push(...s.y.filter(v => isFinite(v))); }
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  if (!xs.length || !ys.length) {
    svg.innerHTML = '<text x="' + (W / 2) + '" y="' + (H / 2) + '" text-anchor="middle">no points yet</text>';
    return;
  }
  const xt = niceTicks(0, Math.max(xMax, ...xs), 6);
  const yt = niceTicks(yRange ? Math.min(yRange[0], ...ys) : Math.min(...ys),
                       yRange ? Math.max(yRange[1], ...ys) : Math.max(...ys), 5);
  const x0 = xt[0], x1 = xt[xt.length - 1], y0 = yt[0], y1 = yt[yt.length - 1];
  const px = x => L + (x - x0) / (x1 - x0 || 1) * (W - L - R);
  const py = y => H - B - (y - y0) / (y1 - y0 || 1) * (H - T - B);
  let out = "";
  for (const t of yt) out += '<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + py(t) + '" y2="' + py(t) + '"/>' +
      '<text x="' + (L - 4) + '" y="' + (py(t) + 4) + '" text-anchor="end">' + label(t) + "</text>";
  for (const t of xt) out += '<line class="grid" y1="' + T + '" y2="' + (H - B) + '" x1="' + px(t) + '" x2="' + px(t) + '"/>' +
      '<text x="' + px(t) + '" y="' + (H - B + 14) + '" text-anchor="middle">' + label(t) + "</text>";
  for (const e of markSteps) if (e >= x0 && e <= x1) out += '<line class="evaluation" y1="' + T + '" y2="' + (H - B) + '" x1="' + px(e) + '" x2="' + px(e) + '"/>';
  out += '<text x="' + (W - R) + '" y="' + (H - 3) + '" text-anchor="end">step</text>';
  for (const s of series) {
    const pts = s.x.map((x, i) => [x, s.y[i]]).filter(p => isFinite(p[1]));
    if (s.dots) {
      for (const [x, y] of pts) out += '<circle cx="' + px(x) + '" cy="' + py(y) + '" r="3.5" fill="' + s.color + '"/>';
    }
    if (pts.length > 1 || !s.dots) {
      out += '<polyline fill="none" stroke-width="1.6" stroke="' + s.color + '" points="' +
             pts.map(([x, y]) => px(x).toFixed(1) + "," + py(y).toFixed(1)).join(" ") + '"/>';
    }
  }
  svg.innerHTML = out;
}

// ---- state from the coordinator
let lastStatus = null, curves = null, nextEvent = 0, lastOk = 0;
const eventRows = [];

function render() {
  const s = lastStatus;
  if (!s) return;
  const state = word(s.state);
  $("state").textContent = state;
  $("state").className = "badge " + state;
  $("generation").textContent = s.generation;
  $("epoch").textContent = s.epoch;
  $("step").textContent = s.global_step + (s.total_steps > 0 ? " / " + s.total_steps : "");
  $("rate").textContent = fixed(s.samples_per_second, 1);
  $("loss").textContent = fixed(s.loss, 4);
  $("eta").textContent = state === "finished" ? "done" : state === "failed" ? "-" : duration(s.eta_seconds);
  $("limits").textContent = "min " + s.min_workers + ", max " + s.max_workers;
  $("best").textContent = (s.best_metric || "accuracy") +
      (s.stopped_early ? " (stopped early)" : s.evaluations_without_improvement > 0
           ? " (" + s.evaluations_without_improvement + " evaluations without improvement)" : "");
  $("message").textContent = s.message || "";

  const members = s.workers.slice().sort((a, b) =>
      (word(a.state) === "active" ? 0 : 1) - (word(b.state) === "active" ? 0 : 1) || a.rank - b.rank);
  fill("members", members.map(w => [
      word(w.state) === "active" ? String(w.rank) : "-", w.name, w.host, [word(w.state), word(w.state)],
      [String(w.global_step), "num"], [fixed(w.samples_per_second, 1), "num"],
      [fixed(w.seconds_since_heartbeat, 1) + " s ago", "num"], w.worker_id]));

  const evals = s.evaluations || [];
  const maskedLm = evals.length > 0 && evals.every(e => !e.precision || e.precision.length === 0);
  const accuracyName = maskedLm ? "masked-token accuracy" : "accuracy";
  $("accuracy-head").textContent = accuracyName;
  $("accuracy-title").textContent = "validation " + accuracyName;
  fill("evaluations", evals.map(e => [[String(e.epoch), "num"], [String(e.global_step), "num"],
      [fixed(e.loss, 4), "num"], [fixed(e.accuracy, 4), "num"], [pair(e.precision, 3), "num"],
      [pair(e.recall, 3), "num"], [pair(e.f1, 3), "num"], [String(e.examples), "num"]]));
  const latest = evals.filter(e => e.confusion && e.confusion.length === 4).pop();
  $("confusion-of").textContent = latest ? "(epoch " + latest.epoch + ", step " + latest.global_step + ")" : "";
  fill("confusion", latest ? [["negative", String(latest.confusion[0]), String(latest.confusion[1])],
                              ["positive", String(latest.confusion[2]), String(latest.confusion[3])]] : []);

  fill("accounting", (s.accounting || []).map(a => [[String(a.epoch), "num"], [String(a.samples), "num"],
      [String(a.consumed), "num"], [String(a.duplicated), a.duplicated > 0 ? "num dead" : "num"],
      a.complete ? "yes" : "in progress"]));

  const checkpoints = s.checkpoints || [];
  fill("checkpoints", checkpoints.map(c => {
    const m = c.metrics || {};
    const has = m.examples > 0;
    return [[String(c.global_step), "num"], [String(c.epoch), "num"], [has ? fixed(m.loss, 4) : "-", "num"],
            [has ? fixed(m.accuracy, 4) : "-", "num"], [has && m.f1 && m.f1.length > 1 ? fixed(m.f1[1], 3) : "-", "num"],
            (c.publications || []).map(p => p.target + " v" + p.version).join(", "),
            [c.path.split("/").pop(), "", c.path]];
  }), i => checkpoints[i].best ? "best" : "");

  // Evaluations come at the ends of epochs: dashed lines mark them.
  const evalSteps = evals.map(e => Number(e.global_step));
  const xMax = Number(s.global_step);
  if (curves) {
    const x = curves.global_step.map(Number);
    chart($("chart-loss"), [{x, y: curves.loss, color: "#0969da"},
                            {x: evalSteps, y: evals.map(e => e.loss), color: "#c0392b", dots: true}],
          evalSteps, xMax);
    chart($("chart-lr"), [{x, y: curves.learning_rate, color: "#6f42c1"}], evalSteps, xMax, [0, 0]);
    chart($("chart-rate"), [{x, y: curves.samples_per_second, color: "#1a7f37"}], evalSteps, xMax, [0, 0]);
  }
  chart($("chart-accuracy"), [{x: evalSteps, y: evals.map(e => e.accuracy), color: "#c0392b", dots: true}],
        evalSteps, xMax);
}

function renderEvents() {
  fill("events", eventRows.slice().reverse().map(e => [
      new Date(e.time_unix * 1000).toLocaleTimeString(), e.kind, [String(e.generation), "num"],
      [String(e.global_step), "num"], e.detail]));
}

async function getJson(path) {
  const res = await fetch(path, {cache: "no-store"});
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}
async function pollStatus() {
  try {
    lastStatus = await getJson("/api/v1/status");
    for (;;) {
      const page = await getJson("/api/v1/events?after=" + nextEvent);
      eventRows.push(...page.events);
      const moved = page.next !== nextEvent;
      nextEvent = page.next;
      if (!moved || page.events.length === 0) break;
    }
    if (eventRows.length > 2000) eventRows.splice(0, eventRows.length - 2000);
    lastOk = Date.now();
    $("updated").className = "";
    render();
    renderEvents();
  } catch (error) {
    $("updated").className = "error";
    $("updated").textContent = "coordinator unreachable (" + error.message + "); retrying";
  }
}
async function pollCurves() {
  try { curves = await getJson("/api/v1/curves"); render(); } catch (error) { /* shown by pollStatus */ }
}
setInterval(() => {
  if (lastOk > 0 && $("updated").className !== "error") {
    $("updated").textContent = "live: updated " + ((Date.now() - lastOk) / 1000).toFixed(0) + " s ago";
  }
}, 1000);
pollStatus(); pollCurves();
setInterval(pollStatus, 1000);
setInterval(pollCurves, 2000);
window.addEventListener("resize", render);
</script>
</body>
</html>
)PAGE");
  return *page;
}

}  // namespace murmur::coordinator
