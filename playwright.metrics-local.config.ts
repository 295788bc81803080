// Temporary: runs tests/e2e/metrics.spec.ts against an isolated instance (own port, data, build).
import { rmSync } from "node:fs";
import path from "node:path";
import { defineConfig, devices } from "@playwright/test";
const dataDir = "/tmp/twarga-e2e-metrics";
if (!process.env.TEST_WORKER_INDEX) rmSync(dataDir, { recursive: true, force: true });
const url = "http://localhost:3460";
const app = {
  name: "metrics", port: 3460, url, dataDir, dbFile: path.join(dataDir, "app.db"),
  env: { NODE_ENV: "production", PORT: "3460", AUTH_URL: url, AUTH_SECRET: "e2e-secret-metrics-0123456789abcdefghijklmnopqrstuvwxyz", DATA_DIR: dataDir, DATABASE_URL: `file:${path.join(dataDir, "app.db")}`, SSHD_LOG_FOLLOW: "false", LOCAL_IDP: "on", LOCAL_IDP_PORT: "3461", AUTH_ALLOWED_DOMAINS: "example.com", NEXT_DIST_DIR: ".next-metrics", VM_DRIVER: "qemu", VAGRANT_BIN: path.resolve("tests/support/fake-vagrant/vagrant") },
};
process.env.E2E_METRICS_APP = JSON.stringify(app);
export default defineConfig({
  testDir: "tests/e2e", testMatch: "metrics.spec.ts", workers: 1, timeout: 90_000, expect: { timeout: 20_000 }, reporter: [["list"]],
  use: { ...devices["Desktop Chrome"], launchOptions: { executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage"] }, screenshot: "only-on-failure" },
  webServer: [{ command: "node node_modules/next/dist/bin/next start", url: `${url}/api/health`, env: { ...process.env, ...app.env } as Record<string, string>, timeout: 180_000, reuseExistingServer: false }],
});
