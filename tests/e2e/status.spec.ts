import { expect as baseExpect, type APIRequestContext, type Page, type Response } from "@playwright/test";
import { expect, test } from "./support/fixtures";
import { localApp as app } from "./support/apps";
import { signIn, withDb } from "./support/session";

// The phone status page (/status) and the installable app around it: the
// manifest, icons and favicon served without a session; a signed-out visitor
// sent to sign-in and back; and, on a 375 px phone with a cold cache, what the
// page really downloads: the HTML document at most 50 KB before compression,
// and no script with chart-library code (recharts, which Tremor draws with),
// neither before the first paint nor after. The page then refreshes by itself:
// the figures move with the sampler, and an alert that opens turns the host's
// state critical without a reload.
const PHONE = { width: 375, height: 800 };
const USER = "status-user@example.com";
const MAX_HTML_BYTES = 50 * 1024;
/**
 * Strings only recharts' code holds: the class names it gives every chart's
 * wrapper and surface (kept verbatim by minifiers, being strings). The positive
 * control below proves they find the chart chunks that /monitor/history loads.
 */
const CHART_MARKERS = ["recharts-wrapper", "recharts-surface"];

const iso = (d = new Date()) => d.toISOString().replace("Z", "+00:00");

/** Width and height from a PNG's IHDR. */
function pngSize(bytes: Buffer): string {
  baseExpect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
  return `${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`;
}

interface Download {
  url: string;
  type: string;
  status: number;
  bytes: number;
  text: string | null;
}

/** Records every response the page gets, with its decoded body (scripts as text, to search). */
function recordDownloads(page: Page): { downloads: Download[]; settled: () => Promise<void> } {
  const downloads: Download[] = [];
  const pending: Promise<void>[] = [];
  page.on("response", (res: Response) => {
    pending.push(
      (async () => {
        const type = res.request().resourceType();
        const body = await res.body().catch(() => null);
        downloads.push({
          url: res.url(),
          type,
          status: res.status(),
          bytes: body?.length ?? -1,
          text: type === "script" && body ? body.toString("utf8") : null,
        });
      })(),
    );
  });
  return { downloads, settled: async () => void (await Promise.all(pending)) };
}

const chartScripts = (downloads: Download[]) =>
  downloads.filter((d) => d.type === "script" && d.text !== null && CHART_MARKERS.some((m) => d.text!.includes(m)));

async function fetchWithoutSession(request: APIRequestContext, path: string) {
  const res = await request.get(`${app.url}${path}`, { maxRedirects: 0 });
  return { status: res.status(), type: res.headers()["content-type"] ?? "", body: await res.body() };
}

test.describe.serial("the status page on a phone", () => {
  test.skip(!app.env.VAGRANT_BIN?.includes("fake-vagrant"), "the app under test is not using the stand-in vagrant");

  test("the manifest, its icons and the favicon are served to a visitor without a session, and every page links them", async ({ page, playwright }) => {
    const request = await playwright.request.newContext();
    const manifest = await fetchWithoutSession(request, "/manifest.webmanifest");
    expect(manifest.status).toBe(200);
    expect(manifest.type).toContain("application/manifest+json");
    const m = JSON.parse(manifest.body.toString("utf8")) as {
      start_url: string;
      display: string;
      icons: Array<{ src: string; sizes: string; purpose: string }>;
    };
    expect(m).toMatchObject({ start_url: "/status", display: "standalone" });
    expect(m.icons.map((i) => `${i.sizes} ${i.purpose}`).sort()).toEqual(["192x192 any", "192x192 maskable", "512x512 any", "512x512 maskable"]);
    for (const icon of [...m.icons, { src: "/icons/apple-touch-icon.png", sizes: "180x180" }]) {
      const res = await fetchWithoutSession(request, icon.src);
      expect([icon.src, res.status, res.type]).toEqual([icon.src, 200, "image/png"]);
      expect(pngSize(res.body), icon.src).toBe(icon.sizes);
    }
    const ico = await fetchWithoutSession(request, "/favicon.ico");
    expect(ico.status).toBe(200);
    expect(ico.type).toMatch(/image\/(x-icon|vnd\.microsoft\.icon)/);
    expect(ico.body.readUInt16LE(2), "an icon resource").toBe(1);
    const svg = await fetchWithoutSession(request, "/icon.svg");
    expect([svg.status, svg.type]).toEqual([200, "image/svg+xml"]);
    await request.dispose();

    // The sign-in page (no session) carries the links a phone reads to install the app, and a theme colour per scheme.
    await page.goto(`${app.url}/signin`);
    const head = page.locator("head");
    await expect(head.locator('link[rel="manifest"]')).toHaveAttribute("href", /^\/manifest\.webmanifest/);
    await expect(head.locator('link[rel="icon"][href^="/favicon.ico"]')).toHaveCount(1);
    await expect(head.locator('link[rel="icon"][href^="/icon.svg"]')).toHaveCount(1);
    await expect(head.locator('link[rel="apple-touch-icon"]')).toHaveAttribute("href", "/icons/apple-touch-icon.png");
    const themes = await head
      .locator('meta[name="theme-color"]')
      .evaluateAll((els) => els.map((e) => `${e.getAttribute("media")} ${e.getAttribute("content")}`));
    expect(themes).toEqual(["(prefers-color-scheme: light) #ffffff", "(prefers-color-scheme: dark) #101828"]);
    // The colour follows the scheme the phone is in.
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      const active = await page.evaluate(
        () =>
          [...document.querySelectorAll('meta[name="theme-color"]')].find((e) => matchMedia(e.getAttribute("media") ?? "").matches)?.getAttribute("content") ??
          null,
      );
      expect([scheme, active]).toEqual([scheme, scheme === "light" ? "#ffffff" : "#101828"]);
    }
  });

  test("a signed-out visitor is sent to sign-in and comes back to /status", async ({ page }) => {
    await page.setViewportSize(PHONE);
    await page.goto(`${app.url}/status`);
    await expect(page).toHaveURL(`${app.url}/signin?callbackUrl=%2Fstatus`);
    await page.getByRole("button", { name: /Local identity provider/ }).click();
    await page.getByLabel("Email").fill(USER);
    await page.getByLabel("Name").fill("status");
    await page.getByRole("button", { name: "Continue" }).click();
    await expect(page).toHaveURL(`${app.url}/status`);
    await expect(page.getByTestId("host-state")).toBeVisible();
  });

  test("on a phone with a cold cache: HTML ≤ 50 KB, no chart code downloaded, fits 375 px, own VMs only, refreshes live", async ({ page, browser }) => {
    await signIn(page, app, USER);
    // A plain user (the first to sign in to a fresh app becomes admin).
    withDb(app, (db) => db.prepare(`UPDATE "User" SET role = 'USER' WHERE email = ?`).run(USER));
    // Two VMs of this user and one of someone else's, stopped (the stand-in has nothing to do for them).
    const stamp = Date.now();
    withDb(app, (db) => {
      const box = db.prepare(`SELECT id FROM Box ORDER BY createdAt LIMIT 1`).get() as { id: string };
      const owner = (email: string) => (db.prepare(`SELECT id FROM "User" WHERE email = ?`).get(email) as { id: string } | undefined)?.id;
      db.prepare(`INSERT OR IGNORE INTO "User" (id, email, role, createdAt, updatedAt) VALUES (?, ?, 'USER', ?, ?)`).run(
        `ckstatusother${stamp}`,
        "status-other@example.com",
        iso(),
        iso(),
      );
      const add = db.prepare(
        `INSERT INTO Vm (id, name, activeName, ownerId, boxId, cpus, ramMb, diskGb, driver, state, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, 1, 512, 10, 'qemu', 'STOPPED', ?, ?)`,
      );
      add.run(`ckstatusa${stamp}`, `phone-a-${stamp}`, `phone-a-${stamp}`, owner(USER), box.id, iso(), iso());
      add.run(`ckstatusb${stamp}`, `phone-b-${stamp}`, `phone-b-${stamp}`, owner(USER), box.id, iso(), iso());
      add.run(`ckstatusc${stamp}`, `not-mine-${stamp}`, `not-mine-${stamp}`, owner("status-other@example.com"), box.id, iso(), iso());
    });

    // A fresh context with only the session cookie: nothing cached, as on a phone opening the app.
    const phone = await browser.newContext({ storageState: await page.context().storageState(), viewport: PHONE, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    const { downloads, settled } = recordDownloads(p);
    const res = await p.goto(`${app.url}/status`);
    expect(res?.status()).toBe(200);
    await p.waitForLoadState("load");
    await expect(p.getByTestId("host-state")).toBeVisible();
    const html = (await res!.body()).length;
    const firstPaint = await p.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null);
    const beforePaint = await p.evaluate(
      (fcp) =>
        performance
          .getEntriesByType("resource")
          .filter((e) => (e as PerformanceResourceTiming).initiatorType === "script" && (fcp === null || e.startTime <= fcp))
          .map((e) => e.name),
      firstPaint,
    );
    await p.waitForTimeout(1500);
    await settled();
    const scripts = downloads.filter((d) => d.type === "script");
    const encoding = res!.headers()["content-encoding"] ?? "none";
    console.log(
      `[status] document ${html} bytes uncompressed (sent with content-encoding ${encoding}); first contentful paint at ${firstPaint?.toFixed(0) ?? "?"} ms; ` +
        `${scripts.length} scripts, ${scripts.reduce((n, s) => n + s.bytes, 0)} bytes; ${beforePaint.length} requested before the first paint`,
    );
    expect(html, "the status page's HTML before compression").toBeLessThanOrEqual(MAX_HTML_BYTES);
    expect(scripts.length, "the page's scripts were recorded").toBeGreaterThan(0);
    expect(
      scripts.every((s) => s.text !== null),
      "every script's text was read",
    ).toBe(true);
    expect(
      chartScripts(downloads).map((d) => d.url),
      "scripts with chart-library code on /status",
    ).toEqual([]);
    // Every script requested before the first paint is among those searched.
    for (const url of beforePaint)
      expect(
        scripts.map((s) => s.url),
        url,
      ).toContain(url);

    // No wider than the phone; the user's own VMs, not someone else's.
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    const vms = p.getByTestId("status-vms");
    await expect(vms).toContainText(`phone-a-${stamp}`);
    await expect(vms).toContainText(`phone-b-${stamp}`);
    await expect(vms).not.toContainText(`not-mine-${stamp}`);
    await expect(vms.getByTestId("vm-state").first()).toHaveText("stopped");
    for (const id of ["status-cpuPct-value", "status-memPct-value", "status-fsPct-value"]) await expect(p.getByTestId(id)).toHaveText(/^\d+(\.\d)? %$/);
    await expect(p.getByTestId("status-others")).toHaveCount(0);

    // Live: the figures follow the sampler without a reload (the document is not requested again).
    const freshness = p.getByTestId("host-state").getByTestId("freshness");
    const sampledAt = await freshness.getAttribute("data-sampled-at");
    await expect(freshness).not.toHaveAttribute("data-sampled-at", sampledAt!, { timeout: 20_000 });
    const before = await p.getByTestId("host-state").getAttribute("data-state");
    const ruleId = `ckstatusrule${stamp}`;
    const ruleName = `Status check ${stamp}`;
    withDb(app, (db) =>
      db
        .prepare(
          `INSERT INTO AlertRule (id, name, metric, comparison, threshold, clearThreshold, durationS, scope, severity, enabled, createdAt, updatedAt)
           VALUES (?, ?, 'memPct', 'gte', 0, -1, 0, 'host', 'CRITICAL', 1, ?, ?)`,
        )
        .run(ruleId, ruleName, iso(), iso()),
    );
    try {
      await expect(p.getByTestId("host-state")).toHaveAttribute("data-state", "critical", { timeout: 20_000 });
      await expect(p.getByTestId("status-alerts")).toContainText(ruleName);
      await expect(p.getByTestId("status-alerts")).toContainText("host · now");
    } finally {
      // Disabled, the rule's alert resolves at the next evaluation.
      withDb(app, (db) => db.prepare(`UPDATE AlertRule SET enabled = 0 WHERE id = ?`).run(ruleId));
    }
    await expect(p.getByText(ruleName)).toHaveCount(0, { timeout: 20_000 });
    if (before !== "critical") await expect(p.getByTestId("host-state")).toHaveAttribute("data-state", before!);
    expect(downloads.filter((d) => d.type === "document").map((d) => d.url)).toEqual([`${app.url}/status`]);
    expect(
      downloads.some((d) => d.url.includes("metrics.status")),
      "the page polled metrics.status",
    ).toBe(true);
    // Nor later: nothing the page fetched while it stayed open (polls, prefetches of the pages it links) held chart code.
    await settled();
    expect(chartScripts(downloads).map((d) => d.url)).toEqual([]);
    withDb(app, (db) => db.prepare(`DELETE FROM AlertRule WHERE id = ?`).run(ruleId));
    await phone.close();
  });

  test("the chart detector is not blind: /monitor/history downloads recharts' code", async ({ page, browser }) => {
    await signIn(page, app, USER);
    const phone = await browser.newContext({ storageState: await page.context().storageState(), viewport: PHONE });
    const p = await phone.newPage();
    const { downloads, settled } = recordDownloads(p);
    await p.goto(`${app.url}/monitor/history`);
    await p.waitForLoadState("load");
    await p.waitForTimeout(1500);
    await settled();
    expect(chartScripts(downloads).length).toBeGreaterThan(0);
    await phone.close();
  });

  test("an admin sees their own VMs and a count of everyone else's", async ({ page }) => {
    const admin = "status-admin@example.com";
    await page.setViewportSize(PHONE);
    await signIn(page, app, admin);
    withDb(app, (db) => db.prepare(`UPDATE "User" SET role = 'ADMIN' WHERE email = ?`).run(admin));
    await page.goto(`${app.url}/status`);
    await expect(page.getByTestId("status-no-vms")).toHaveText("You have no VMs.");
    // Counted from the database as the page refreshes (VMs of earlier tests may still change state meanwhile).
    const othersInWords = () => {
      const c = withDb(
        app,
        (db) =>
          db
            .prepare(
              `SELECT COUNT(*) AS vms, COALESCE(SUM(state = 'RUNNING'), 0) AS running FROM Vm WHERE state != 'DESTROYED' AND ownerId != (SELECT id FROM "User" WHERE email = ?)`,
            )
            .get(admin) as { vms: number; running: number },
      );
      return `Other users: ${c.vms} VM${c.vms === 1 ? "" : "s"}, ${c.running} running.`;
    };
    expect(othersInWords()).toMatch(/^Other users: [1-9]\d* VMs?/);
    await expect.poll(async () => (await page.getByTestId("status-others").textContent()) === othersInWords(), { timeout: 20_000 }).toBe(true);
    await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Status" })).toHaveAttribute("aria-current", "page");
  });
});
