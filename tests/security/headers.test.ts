// The security headers. Pages, through the proxy called as Next calls it
// (src/proxy.ts with a NextRequest): a Content-Security-Policy with a fresh
// nonce in the response and in the request copy Next renders with, and HSTS
// when the public URL is https. API routes, from next.config.mjs: a closed
// policy. Both: the anti-framing, no-sniff and referrer headers. The browser side (no page of the app
// breaks under the policy) is in tests/e2e: every spec fails on a violation.
import { afterEach, describe, expect, it, vi } from "vitest";
import { NextRequest } from "next/server";

async function proxyWith(authUrl: string | undefined) {
  vi.resetModules();
  if (authUrl === undefined) delete process.env.AUTH_URL;
  else process.env.AUTH_URL = authUrl;
  return import("~/proxy");
}

/** The headers Next would render the page with (the proxy's request override), and the response's own. */
function headersOf(res: Response) {
  const forwarded = new Map<string, string>();
  const overridden = res.headers.get("x-middleware-override-headers")?.split(",") ?? [];
  for (const name of overridden) forwarded.set(name, res.headers.get(`x-middleware-request-${name}`) ?? "");
  return { response: res.headers, forwarded };
}

const originalAuthUrl = process.env.AUTH_URL;
afterEach(() => {
  if (originalAuthUrl === undefined) delete process.env.AUTH_URL;
  else process.env.AUTH_URL = originalAuthUrl;
});

describe("security headers from the proxy", () => {
  it("give a page a nonce policy, the same nonce to the render, a new one per request, and no HSTS over http", async () => {
    const { proxy } = await proxyWith("http://localhost:3000");
    const one = headersOf(proxy(new NextRequest("http://localhost:3000/vms?x=1")));
    const two = headersOf(proxy(new NextRequest("http://localhost:3000/vms")));
    const csp = one.response.get("content-security-policy")!;
    const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(csp).toContain("'strict-dynamic'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("base-uri 'self'");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    // Next reads the nonce from the request's copy of the policy when it renders the page's scripts.
    expect(one.forwarded.get("content-security-policy")).toBe(csp);
    expect(one.forwarded.get("x-twarga-path")).toBe("/vms?x=1");
    expect(two.response.get("content-security-policy")).not.toBe(csp);
    expect(one.response.get("x-content-type-options")).toBe("nosniff");
    expect(one.response.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
    expect(one.response.get("x-frame-options")).toBe("DENY");
    expect(one.response.get("strict-transport-security")).toBeNull();
  });

  it("give API routes (from next.config.mjs, which the proxy skips) a policy that allows nothing, and the common headers", async () => {
    const { API_CONTENT_SECURITY_POLICY, COMMON_SECURITY_HEADERS } = await import("~/server/security-headers");
    // @ts-expect-error next.config.mjs is plain JavaScript, without type declarations.
    const { default: nextConfig } = (await import("../../next.config.mjs")) as {
      default: { headers(): Promise<Array<{ source: string; headers: Array<{ key: string; value: string }> }>> };
    };
    const rules = await nextConfig.headers();
    const api = Object.fromEntries(rules.find((r) => r.source === "/api/:path*")!.headers.map((h) => [h.key, h.value]));
    expect(api).toEqual({ "Content-Security-Policy": API_CONTENT_SECURITY_POLICY, ...COMMON_SECURITY_HEADERS });
    const statics = Object.fromEntries(rules.find((r) => r.source === "/_next/static/:path*")!.headers.map((h) => [h.key, h.value]));
    expect(statics).toEqual(COMMON_SECURITY_HEADERS);
  });

  it("ignore a policy the client sent in its request", async () => {
    const { proxy } = await proxyWith("http://localhost:3000");
    const req = new NextRequest("http://localhost:3000/", { headers: { "content-security-policy": "script-src 'nonce-attacker'" } });
    const { response, forwarded } = headersOf(proxy(req));
    expect(forwarded.get("content-security-policy")).toBe(response.get("content-security-policy"));
    expect(forwarded.get("content-security-policy")).not.toContain("attacker");
  });

  it("add HSTS to pages when the public URL is https", async () => {
    const { proxy } = await proxyWith("https://cloud.example.com");
    for (const path of ["/", "/vms/abc"]) {
      const { response } = headersOf(proxy(new NextRequest(`https://cloud.example.com${path}`)));
      expect(response.get("strict-transport-security"), path).toBe("max-age=63072000");
    }
  });

  it("run for every page, and not for API routes or Next's hashed static files", async () => {
    const { config } = await proxyWith(undefined);
    const matcher = new RegExp(`^${config.matcher[0]!}$`);
    for (const path of ["/", "/vms/abc", "/favicon.ico", "/signin", "/apikeys", "/settings/api"]) expect(matcher.test(path), path).toBe(true);
    for (const path of ["/api", "/api/trpc/vms.list", "/api/terminal/x/input", "/_next/static/chunks/app.js", "/_next/image"])
      expect(matcher.test(path), path).toBe(false);
  });
});

describe("the local identity provider", () => {
  it("sends its sign-in form under a policy that runs nothing and posts only to itself and the app, and never lets itself be framed", async () => {
    const { startLocalIdp } = await import("~/server/auth/local-idp");
    const { COMMON_SECURITY_HEADERS } = await import("~/server/security-headers");
    const redirectUri = "http://localhost:9/api/auth/callback/oidc";
    const idp = await startLocalIdp({ host: "127.0.0.1", port: 0, clients: [{ clientId: "h", clientSecret: "s", redirectUris: [redirectUri] }] });
    try {
      const auth = new URL(`${idp.issuer}/auth`);
      const params = { client_id: "h", response_type: "code", scope: "openid email", redirect_uri: redirectUri, code_challenge: "x".repeat(43) };
      for (const [k, v] of Object.entries({ ...params, code_challenge_method: "S256" })) auth.searchParams.set(k, v);
      const toForm = await fetch(auth, { redirect: "manual" });
      expect(toForm.status).toBe(303);
      const cookie = toForm.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
      const form = await fetch(new URL(toForm.headers.get("location")!, idp.issuer), { headers: { cookie } });
      expect(form.status).toBe(200);
      expect(await form.text()).toContain("<form");
      expect(form.headers.get("content-security-policy")).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://localhost:9; base-uri 'none'; frame-ancestors 'none'",
      );
      for (const res of [form, toForm, await fetch(`${idp.issuer}/.well-known/openid-configuration`)])
        for (const [name, value] of Object.entries(COMMON_SECURITY_HEADERS)) expect(res.headers.get(name), name).toBe(value);
    } finally {
      await idp.close();
    }
  });
});
