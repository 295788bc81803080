// Adds up the runners' JSON reports into the one closing line CI reads:
// "tests: N passed, N failed[, N skipped]".
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
let passed = 0, failed = 0, skipped = 0;
const read = (f) => (existsSync(path.join(dir, f)) ? JSON.parse(readFileSync(path.join(dir, f), "utf8")) : null);

const vitest = read("vitest.json");
if (vitest) {
  passed += vitest.numPassedTests;
  failed += vitest.numFailedTests + (vitest.numRuntimeErrors ?? 0);
  skipped += vitest.numPendingTests + vitest.numTodoTests;
  console.log(`vitest: ${vitest.numPassedTests} passed, ${vitest.numFailedTests} failed, ${vitest.numPendingTests} skipped`);
} else failed += 1;

const pw = read("playwright.json");
if (pw) {
  const s = pw.stats;
  passed += s.expected;
  failed += s.unexpected + s.flaky;
  skipped += s.skipped;
  console.log(`playwright: ${s.expected} passed, ${s.unexpected + s.flaky} failed, ${s.skipped} skipped`);
} else failed += 1;

// The real-VM stage: the plain Vagrant lifecycle as one test, then the app's lifecycle tests.
const real = read("real-vms.json");
if (real) {
  const app = read("real-vms-vitest.json");
  const appPassed = app ? app.numPassedTests : 0;
  const appFailed = app ? app.numFailedTests + (app.numRuntimeErrors ?? 0) : real.passed ? 1 : 0;
  passed += real.passed + appPassed;
  failed += real.failed + appFailed;
  console.log(`real VMs: ${real.passed + appPassed} passed, ${real.failed + appFailed} failed`);
}

console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
