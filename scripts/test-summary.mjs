// Adds up the runners' JSON reports into the one closing line CI reads:
// "tests: N passed, N failed[, N skipped]".
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
let passed = 0,
  failed = 0,
  skipped = 0;
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

// The real-VM stage: its browser test's report, and the stage itself (host
// setup, box, cleanup) counted as one more test when it fails outside them.
const real = read("real-vms.json");
if (real) {
  const report = read("real-vms-playwright.json");
  const s = report?.stats ?? { expected: 0, unexpected: 0, flaky: 0, skipped: 0 };
  const stageFailed = real.failed > 0 && s.unexpected + s.flaky === 0 ? 1 : 0;
  passed += s.expected;
  failed += s.unexpected + s.flaky + stageFailed;
  skipped += s.skipped;
  console.log(
    `real VMs: ${s.expected} passed, ${s.unexpected + s.flaky + stageFailed} failed, ${s.skipped} skipped${stageFailed ? " (the stage failed outside its tests: see its log)" : ""}`,
  );
}

console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
