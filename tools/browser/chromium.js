// What murmur's browser tests share (serving/page_check.js, coordinator/dashboard/
// dashboard_check.js): their command-line flags, and Debian's chromium launched headless through
// puppeteer-core (never a downloaded browser). The tests put this folder on NODE_PATH and
// require("chromium").
"use strict";
const puppeteer = require("puppeteer-core");

// The value after --name on the command line; a missing flag is an error.
function flag(name) {
  const i = process.argv.indexOf("--" + name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error("missing --" + name);
  return process.argv[i + 1];
}

// Headless chromium at `executablePath`.
function launchChromium(executablePath) {
  return puppeteer.launch({
    executablePath,
    headless: true,
    // As root in CI: chromium's sandbox needs user namespaces it may not get.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

// Runs the async check; any error ends the process with its message and exit status 1.
function runCheck(check) {
  check().catch(error => {
    console.error(error.message || error);
    process.exit(1);
  });
}

module.exports = {flag, launchChromium, runCheck};
