// Debian's chromium for every Playwright config (no downloaded browsers).
import { devices, type PlaywrightTestOptions } from "@playwright/test";

export const debianChromium: Partial<PlaywrightTestOptions> & Record<string, unknown> = {
  ...devices["Desktop Chrome"],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  },
  // The app honours reduced motion (globals.css): no animation repainting the
  // page while the tests wait, which on two cores slows the VMs under test.
  contextOptions: { reducedMotion: "reduce" },
  trace: "retain-on-failure",
  screenshot: "only-on-failure",
};
