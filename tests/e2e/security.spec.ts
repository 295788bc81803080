// Security headers and request limits against the real `next start`: every
// script of a page carries the response's nonce, an injected inline handler
// does not run (and is reported as a violation), the app cannot be framed,
// API responses carry a closed policy, and an oversized tRPC body is refused
// with 413. The other specs show that the app's own pages raise no violation
// (support/fixtures.ts fails any test whose pages do).
import { expect, test } from "./support/fixtures";
import { localApp } from "./support/apps";
import { signIn } from "./support/session";

const app = localApp;

test.describe("security headers", () => {
  test("a page's scripts all carry this response's nonce, and the next response has another", async ({ request }) => {
    const first = await request.get(`${app.url}/signin`);
    const second = await request.get(`${app.url}/signin`);
    const csp = first.headers()["content-security-policy"]!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(first.headers()["x-content-type-options"]).toBe("nosniff");
    expect(first.headers()["referrer-policy"]).toBe("strict-origin-when-cross-origin");
    // AUTH_URL is http here: no HSTS.
    expect(first.headers()["strict-transport-security"]).toBeUndefined();
    expect(second.headers()["content-security-policy"]).not.toBe(csp);
    const html = await first.text();
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
  });

  test("the 404 page renders per request too, so its scripts carry the nonce", async ({ request }) => {
    const res = await request.get(`${app.url}/no-such-page-${Date.now()}`);
    expect(res.status()).toBe(404);
    const nonce = /'nonce-([^']+)'/.exec(res.headers()["content-security-policy"]!)![1]!;
    for (const tag of (await res.text()).match(/<script\b[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`);
  });

  test("API responses and static files carry their headers", async ({ request }) => {
    const health = await request.get(`${app.url}/api/health`);
    expect(health.headers()["content-security-policy"]).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(health.headers()["x-content-type-options"]).toBe("nosniff");
    const page = await (await request.get(`${app.url}/signin`)).text();
    const chunk = /src="(\/_next\/static\/[^"]+\.js)"/.exec(page)![1]!;
    const asset = await request.get(`${app.url}${chunk}`);
    expect(asset.status()).toBe(200);
    expect(asset.headers()["x-content-type-options"]).toBe("nosniff");
  });

  test("an injected inline event handler does not run, and the browser reports it", async ({ page, pageProblems }) => {
    await signIn(page, app, "csp-probe@example.com");
    await page.evaluate(() => {
      const div = document.createElement("div");
      // What an HTML-injection bug would let through: markup with a handler.
      // An image that fails at once, without a request.
      div.innerHTML = `<img src="data:," onerror="window.__injected = true">`;
      document.body.append(div);
    });
    await expect.poll(() => pageProblems.some((p) => p.includes("[csp-violation] script-src-attr"))).toBe(true);
    expect(await page.evaluate(() => (window as { __injected?: boolean }).__injected ?? false)).toBe(false);
    // Expected here, and only here: the violation, as the page reported it and as Chrome's own line.
    const unexpected = pageProblems.filter(
      (p) => !/\[csp-violation\] script-src-attr|inline event handler violates the following Content Security Policy/.test(p),
    );
    expect(unexpected).toEqual([]);
    pageProblems.length = 0;
  });

  test("another site cannot frame the app", async ({ page, pageProblems }) => {
    await page.setContent(`<iframe id="app" src="${app.url}/signin" width="400" height="300"></iframe>`);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    await expect.poll(() => frame?.url()).toMatch(/^(chrome-error:|about:blank)/);
    const problems = [...pageProblems];
    pageProblems.length = 0;
    expect(problems.join("\n")).toMatch(/frame-ancestors/);
  });
});

test.describe("request limits", () => {
  test("the tRPC route refuses a body over 1 MB with 413 before any procedure runs", async ({ page }) => {
    await signIn(page, app, "limits@example.com");
    const status = await page.evaluate(async () => {
      const res = await fetch("/api/trpc/sshKeys.add", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ json: { label: "x".repeat(2 * 1024 * 1024), publicKey: "ssh-ed25519 AAAA" } }),
      });
      return res.status;
    });
    expect(status).toBe(413);
  });
});
