// Watches the coordinator's dashboard in headless chromium (puppeteer-core) during a job, as a
// person would: waits for two active members, SIGKILLs one worker (--kill-pid), waits for the
// page to show a new generation with one active member and the dead one, then for the first
// epoch's validation metrics, confusion matrix and curves. A screenshot at each stage. Exits
// non-zero with a message on any mismatch or timeout.
"use strict";
const {flag, launchChromium, runCheck} = require("chromium");
const path = require("path");

// The members table as [{rank, name, state}].
const members = page => page.$$eval("#members tbody tr", rows => rows.map(r => {
  const c = [...r.children].map(td => td.textContent);
  return {rank: c[0], name: c[1], state: c[3]};
}));

async function waitFor(page, what, predicate, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      const body = await page.$eval("body", b => b.innerText.slice(0, 2000));
      throw new Error("timed out after " + seconds + " s waiting for " + what + "; the page:\n" + body);
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

runCheck(async () => {
  const browser = await launchChromium(flag("chromium"));
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1280, height: 900});
    page.setDefaultTimeout(30000);
    await page.goto(flag("url"), {waitUntil: "load"});
    const outputs = flag("outputs");
    const text = id => page.$eval(id, e => e.textContent);

    // 1. Both workers are members of a running generation.
    await waitFor(page, "two active members", async () =>
        (await members(page)).filter(m => m.state === "active").length === 2 &&
        (await text("#state")) === "running", 180);
    const before = Number(await text("#generation"));
    const ranks = (await members(page)).map(m => m.rank).sort().join(",");
    if (ranks !== "0,1") throw new Error("the members' ranks are " + ranks);
    await page.screenshot({path: path.join(outputs, "members.png"), fullPage: true});
    console.log("members: 2 active in generation " + before);

    // 2. A worker dies: the page shows the next generation, one active member, one dead.
    process.kill(Number(flag("kill-pid")), "SIGKILL");
    await waitFor(page, "a new generation without the killed worker", async () => {
      const now = await members(page);
      return Number(await text("#generation")) > before &&
             now.filter(m => m.state === "active").length === 1 &&
             now.some(m => m.state === "dead");
    }, 60);
    const after = Number(await text("#generation"));
    const events = await page.$$eval("#events tbody tr td:nth-child(2)", tds => tds.map(t => t.textContent));
    if (!events.includes("worker_dead")) throw new Error("the events list lacks worker_dead: " + events);
    await page.screenshot({path: path.join(outputs, "generation.png"), fullPage: true});
    console.log("generation " + before + " -> " + after + " after the kill");

    // 3. The epoch ends: its validation metrics, the confusion matrix, curves with points.
    await waitFor(page, "the first epoch's evaluation", async () =>
        (await page.$$("#evaluations tbody tr")).length >= 1 &&
        (await page.$$("#confusion tbody tr")).length === 2, 300);
    const row = await page.$$eval("#evaluations tbody tr:first-child td", tds => tds.map(t => t.textContent));
    const accuracy = Number(row[3]);
    if (row[0] !== "0" || !(accuracy > 0 && accuracy <= 1)) throw new Error("evaluation row " + row);
    const cells = await page.$$eval("#confusion tbody td", tds => tds.map(t => t.textContent));
    const counts = [cells[1], cells[2], cells[4], cells[5]].map(Number);
    const examples = Number(row[7]);
    if (counts.reduce((a, b) => a + b, 0) !== examples) {
      throw new Error("the confusion matrix " + counts + " does not add up to " + examples + " examples");
    }
    if (Math.abs((counts[0] + counts[3]) / examples - accuracy) > 1e-4) {
      throw new Error("the confusion matrix's diagonal disagrees with accuracy " + accuracy);
    }
    await waitFor(page, "the loss curve", async () =>
        (await page.$$("#chart-loss polyline")).length >= 1, 30);
    const accounted = await page.$$eval("#accounting tbody tr:first-child td", tds => tds.map(t => t.textContent));
    if (accounted[3] !== "0") throw new Error("epoch 0 accounting shows duplicates: " + accounted);
    await page.screenshot({path: path.join(outputs, "metrics.png"), fullPage: true});
    console.log("epoch 0: accuracy " + accuracy + " on " + examples + " examples, confusion " + counts);
  } finally {
    await browser.close();
  }
});
