// Drives murmur-serve's page in headless chromium (puppeteer-core): types a tweet, submits,
// waits for the result row and checks its label; then waits for the versions table to show a
// READY version; saves a screenshot. Exits non-zero with a message on any mismatch or timeout.
"use strict";
const {flag, launchChromium, runCheck} = require("chromium");

runCheck(async () => {
  const browser = await launchChromium(flag("chromium"));
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1100, height: 700});
    page.setDefaultTimeout(30000);
    await page.goto(flag("url"), {waitUntil: "load"});
    await page.type("#texts", flag("tweet"));
    await page.click("#submit");
    await page.waitForSelector("#results tbody tr td:nth-child(2)");
    const [text, label, score, version] = await page.$$eval(
        "#results tbody tr:first-child td", cells => cells.map(c => c.textContent));
    if (text !== flag("tweet")) throw new Error("the row shows text '" + text + "'");
    if (label !== flag("expected-label")) {
      throw new Error("the page shows label '" + label + "', /v1/classify says '" +
                      flag("expected-label") + "'");
    }
    if (version !== "1") throw new Error("the page shows model version '" + version + "'");
    await page.waitForFunction(() => [...document.querySelectorAll("#versions tbody td")]
                                         .some(td => td.textContent === "READY"));
    await page.screenshot({path: flag("screenshot"), fullPage: true});
    console.log("the page classified '" + text + "' as " + label + " (score " + score +
                ", version " + version + ")");
  } finally {
    await browser.close();
  }
});
