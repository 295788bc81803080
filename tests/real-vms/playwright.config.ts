// The real-hypervisor browser test: run by tests/real-vms/run.sh (which serves
// the app through the quick start, sets VAGRANT_HOME and VM_ROOT, and cleans
// up the host), never by the ordinary `playwright test` (it needs root,
// libvirt and minutes per VM).
import path from "node:path";
import { defineConfig } from "@playwright/test";
import { debianChromium } from "../e2e/support/browser";

if (!process.env.VAGRANT_HOME || !process.env.VM_ROOT)
  throw new Error("run this through tests/real-vms/run.sh (it serves the app and sets VAGRANT_HOME and VM_ROOT)");

export default defineConfig({
  testDir: path.resolve(import.meta.dirname),
  testMatch: "*.spec.ts",
  workers: 1,
  retries: 0,
  // Each step waits for real boots under software emulation.
  timeout: 12 * 60_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  use: debianChromium,
});
