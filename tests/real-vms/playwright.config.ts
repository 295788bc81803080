// The real-hypervisor browser test: run by tests/real-vms/run.sh (which sets
// VAGRANT_HOME and VM_ROOT and cleans up the host), never by the ordinary
// `playwright test` (it needs root, libvirt and minutes per VM).
import { rmSync } from "node:fs";
import path from "node:path";
import { defineConfig } from "@playwright/test";
import { debianChromium } from "../e2e/support/browser";
import { realVmApp } from "./app";

if (!process.env.VAGRANT_HOME || !process.env.VM_ROOT) throw new Error("run this through tests/real-vms/run.sh (it sets VAGRANT_HOME and VM_ROOT)");
// The config is evaluated by the runner and again by each worker: only the runner starts clean.
if (!process.env.TEST_WORKER_INDEX) rmSync(realVmApp.dataDir, { recursive: true, force: true });

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
  webServer: {
    command: "node node_modules/next/dist/bin/next start",
    cwd: path.resolve(import.meta.dirname, "../.."),
    url: `${realVmApp.url}/api/health`,
    env: realVmApp.env,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
  },
});
