#include "serving/http_page.h"

namespace murmur::serving {

const std::string& ClassifierPage() {
  static const std::string* const page = new std::string(R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>murmur sentiment</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
  h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
  textarea { width: 100%; font: inherit; padding: .5rem; box-sizing: border-box; }
  .row { display: flex; gap: .5rem; align-items: center; margin: .5rem 0; }
  input { font: inherit; padding: .25rem; }
  button { font: inherit; padding: .4rem 1.2rem; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
  td.positive { color: #1a7f37; font-weight: 600; } td.negative { color: #c0392b; font-weight: 600; }
  #status { color: #555; min-height: 1.2rem; } #status.error { color: #c0392b; }
</style>
</head>
<body>
<h1>murmur sentiment</h1>
<form id="classify">
  <textarea id="texts" rows="5" placeholder="One tweet per line"></textarea>
  <div class="row">
    <button id="submit" type="submit">Classify</button>
    <label>Bearer token (if the server needs one) <input id="token" type="password" size="24"></label>
  </div>
</form>
<p id="status"></p>
<table id="results">
  <thead><tr><th>text</th><th>label</th><th>score</th><th>model version</th><th>latency</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Models and versions</h2>
<table id="versions">
  <thead><tr><th>model</th><th>version</th><th>state</th><th>reason</th></tr></thead>
  <tbody></tbody>
</table>
<script>
"use strict";
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}
function headers() {
  const h = {"Content-Type": "application/json"};
  const token = document.getElementById("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}
async function classify(event) {
  event.preventDefault();
  const status = document.getElementById("status");
  const texts = document.getElementById("texts").value.split("\n").filter(t => t.trim() !== "");
  if (texts.length === 0) { status.className = "error"; status.textContent = "type a tweet first"; return; }
  status.className = ""; status.textContent = "classifying " + texts.length + " text(s)...";
  const start = performance.now();
  let response, body;
  try {
    response = await fetch("/v1/classify", {method: "POST", headers: headers(),
                                             body: JSON.stringify({texts: texts})});
    body = await response.json();
  } catch (error) {
    status.className = "error"; status.textContent = "no answer: " + error; return;
  }
  const ms = performance.now() - start;
  if (!response.ok) {
    status.className = "error"; status.textContent = "error " + response.status + ": " + body.error;
    return;
  }
  const tbody = document.querySelector("#results tbody");
  tbody.replaceChildren();
  body.results.forEach((result, i) => {
    const row = document.createElement("tr");
    cell(row, texts[i]);
    cell(row, result.label, result.label);
    cell(row, result.score.toFixed(3));
    cell(row, String(result.model_version));
    cell(row, ms.toFixed(0) + " ms");
    tbody.appendChild(row);
  });
  status.textContent = texts.length + " text(s) in " + ms.toFixed(0) + " ms, model " + body.model +
                       " version " + body.model_version;
}
async function refreshVersions() {
  try {
    const response = await fetch("/v1/models");
    if (!response.ok) return;
    const body = await response.json();
    const tbody = document.querySelector("#versions tbody");
    tbody.replaceChildren();
    for (const model of body.models) {
      for (const version of model.versions) {
        const row = document.createElement("tr");
        cell(row, model.name);
        cell(row, String(version.version));
        cell(row, version.state);
        cell(row, version.reason || "");
        tbody.appendChild(row);
      }
    }
  } catch (error) { /* the server may be restarting: the next refresh tries again */ }
}
document.getElementById("classify").addEventListener("submit", classify);
refreshVersions();
setInterval(refreshVersions, 2000);
</script>
</body>
</html>
)PAGE");
  return *page;
}

}  // namespace murmur::serving
