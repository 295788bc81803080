import { readFileSync } from "node:fs";
import { expect, test } from "./support/fixtures";
import { localApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";

// The monitoring pages with real data from this machine. "Collect now" runs a
// real sampler tick, so the spec does not depend on the background sampler's
// timing. E2E_METRICS_APP (JSON of an E2EApp) points it at another instance.
const app: E2EApp = process.env.E2E_METRICS_APP ? (JSON.parse(process.env.E2E_METRICS_APP) as E2EApp) : localApp;

test.describe.serial("Monitoring", () => {
  test("an admin collects now, sees live tiles on a phone and charts for a range in the URL", async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    const email = "monitor-admin@example.com";
    await signIn(page, app, email);
    withDb(app, (db) => db.prepare(`UPDATE User SET role = 'ADMIN' WHERE email = ?`).run(email));

    await page.goto(`${app.url}/monitor/admin`);
    await page.getByTestId("collect-now").click();
    await expect(page.getByTestId("collect-result")).toContainText("host");
    await expect(page.getByTestId("collect-result")).toContainText("Memory");
    await expect(page.getByTestId("sampler-health")).toContainText("Rows raw / minute / hour");
    await expect(page.getByTestId("alert-rules")).toContainText("Host CPU high");
    await page.getByTestId("collect-now").click(); // a second reading, for a trend

    await page.goto(`${app.url}/monitor`);
    await expect(page.getByTestId("tile-memory-value")).toHaveText(/^\d+(\.\d)? %$/);
    await expect(page.getByTestId("tile-disk-value")).toHaveText(/^\d+(\.\d)? %$/);
    await expect(page.getByTestId("tile-uptime-value")).not.toHaveText("–");
    await expect(page.getByTestId("filesystems")).toContainText("/");
    // Nothing overflows the phone's width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // The tiles refresh without a reload: newer samples keep arriving (the
    // "updated N s ago" text can repeat when refetches line up with ticks).
    const before = await page.getByTestId("freshness").first().getAttribute("data-sampled-at");
    expect(Number(before)).toBeGreaterThan(0);
    await expect(page.getByTestId("freshness").first()).not.toHaveAttribute("data-sampled-at", before!, { timeout: 20_000 });

    await page.goto(`${app.url}/monitor/history?range=1h`);
    await expect(page.getByTestId("range-picker").getByRole("link", { name: "1h" })).toHaveAttribute("aria-current", "page");
    await expect(page.getByTestId("history-resolution")).toContainText("raw samples");
    await expect(page.getByTestId("chart-memPct")).not.toHaveAttribute("data-points", "0");
    await expect(page.getByTestId("chart-memPct").locator("svg.recharts-surface").first()).toBeVisible();
    // The band: a shaded min–max area drawn from real buckets, the average line on top of it.
    const cpuChart = page.getByTestId("chart-cpuPct");
    await expect(cpuChart).not.toHaveAttribute("data-band-points", "0");
    await expect(cpuChart.locator(".band-area path.recharts-area-area").first()).toHaveAttribute("d", /^M[\d.]+,[\d.]+L/);
    await expect(cpuChart.locator(".avg-line path.recharts-line-curve").first()).toHaveAttribute("d", /^M[\d.]+,[\d.]+L/);
    // One chart per watched filesystem ("/" is watched by default) and per network interface, with readings.
    await expect(page.getByTestId("device-charts-fs").getByTestId("chart-fs-/")).not.toHaveAttribute("data-points", "0");
    await expect(page.getByTestId("device-charts-fs").getByTestId("chart-fs-/").locator(".band-area path.recharts-area-area").first()).toHaveAttribute(
      "d",
      /^M/,
    );
    if (["localhost", "127.0.0.1"].includes(new URL(app.url).hostname)) {
      // The app runs here: the interfaces its host collector reads on this machine (not loopback, not VM taps: the rule of collectors/host.ts).
      const nics = readFileSync("/proc/net/dev", "utf8")
        .split("\n")
        .slice(2)
        .map((line) => line.split(":")[0]!.trim())
        .filter((name) => name && name !== "lo" && !/^(vnet|tap|macvtap)\d/.test(name));
      if (nics.length > 0) {
        const nicChart = page.getByTestId("device-charts-net").getByTestId(`chart-net-${nics[0]}`);
        await expect(nicChart).not.toHaveAttribute("data-points", "0");
        await expect(nicChart.locator(".band-area")).toHaveCount(2); // in and out
        await expect(nicChart.locator(".avg-line path.recharts-line-curve").first()).toHaveAttribute("d", /^M/);
      }
    }
    // Still nothing wider than the phone, with the device charts on the page.
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await page.getByTestId("range-picker").getByRole("link", { name: "7d" }).click();
    await expect(page).toHaveURL(/range=7d/);
    await expect(page.getByTestId("history-resolution")).toContainText("hour rollups");
    // The device charts follow the range in the URL too (hour rollups plus the still-open tail).
    await expect(page.getByTestId("device-charts-fs").getByTestId("chart-fs-/")).not.toHaveAttribute("data-points", "0");
  });

  test("a plain user sees the live page but not the monitoring admin", async ({ page }) => {
    await signIn(page, app, "monitor-user@example.com");
    await page.goto(`${app.url}/monitor`);
    await expect(page.getByTestId("host-tiles")).toBeVisible();
    const res = await page.goto(`${app.url}/monitor/admin`);
    expect(res?.status()).toBe(403);
  });
});
