import { rmSync } from "node:fs";
import { defineConfig } from "@playwright/test";
import { debianChromium } from "./tests/e2e/support/browser";
import { E2E_ROOT, EXTERNAL_CLIENT, EXTERNAL_ISSUER_PORT, externalApp, localApp } from "./tests/e2e/support/apps";

// The config is evaluated by the runner and again by each worker: only the
// runner starts from clean data.
if (!process.env.TEST_WORKER_INDEX) rmSync(E2E_ROOT, { recursive: true, force: true });

const nextStart = "node node_modules/next/dist/bin/next start";

export default defineConfig({
  testDir: "tests/e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: debianChromium,
  webServer: [
    { command: nextStart, url: `${localApp.url}/api/health`, env: localApp.env, timeout: 120_000, reuseExistingServer: false, stdout: "pipe", stderr: "pipe" },
    {
      command: `node --import tsx tests/support/oidc-issuer.ts ${EXTERNAL_ISSUER_PORT} ${EXTERNAL_CLIENT.id} ${EXTERNAL_CLIENT.secret} ${externalApp.url}/api/auth/callback/oidc`,
      url: `http://127.0.0.1:${EXTERNAL_ISSUER_PORT}/.well-known/openid-configuration`,
      timeout: 60_000,
      reuseExistingServer: false,
    },
    { command: nextStart, url: `${externalApp.url}/api/health`, env: externalApp.env, timeout: 120_000, reuseExistingServer: false },
  ],
});
