// Sign-in and proxy settings: the local provider refused beside a real one in
// production, unverified emails refused unless asked, TRUSTED_PROXIES parsed
// the way Express's `trust proxy` reads it.
import { describe, expect, it } from "vitest";
import { localIdpEnabled, parseEnv } from "~/server/env";

const prod = { NODE_ENV: "production", AUTH_SECRET: "x".repeat(40) };
const oidc = { AUTH_OIDC_ISSUER: "https://id.example.com", AUTH_OIDC_ID: "a", AUTH_OIDC_SECRET: "b", AUTH_ALLOWED_DOMAINS: "example.com" };

describe("LOCAL_IDP beside a real provider", () => {
  it("refuses to start with LOCAL_IDP=on and GitHub, Google or OIDC in production, saying what to change", () => {
    const providers = [
      oidc,
      { AUTH_GITHUB_ID: "g", AUTH_GITHUB_SECRET: "s", AUTH_ALLOWED_DOMAINS: "example.com" },
      { AUTH_GOOGLE_ID: "g", AUTH_GOOGLE_SECRET: "s", AUTH_ALLOWED_EMAILS: "a@example.com" },
    ];
    for (const p of providers)
      expect(() => parseEnv({ ...prod, ...p, LOCAL_IDP: "on" })).toThrow(
        /LOCAL_IDP: is on beside an external sign-in provider .* in production: .*Set LOCAL_IDP=off/,
      );
  });

  it("allows each of the three other combinations", () => {
    // Evaluation in production with no other provider (the quick start's .env).
    expect(localIdpEnabled(parseEnv({ ...prod, LOCAL_IDP: "on" }))).toBe(true);
    // Development beside a real provider.
    expect(localIdpEnabled(parseEnv({ ...oidc, LOCAL_IDP: "on" }))).toBe(true);
    // Production with the real provider only: auto turns the local one off.
    expect(localIdpEnabled(parseEnv({ ...prod, ...oidc }))).toBe(false);
    expect(localIdpEnabled(parseEnv({ ...prod, ...oidc, LOCAL_IDP: "off" }))).toBe(false);
  });
});

describe("AUTH_TRUST_UNVERIFIED_EMAIL and WEBHOOK_ALLOW_PRIVATE", () => {
  it("default to false", () => {
    const e = parseEnv({});
    expect(e.AUTH_TRUST_UNVERIFIED_EMAIL).toBe(false);
    expect(e.WEBHOOK_ALLOW_PRIVATE).toBe(false);
    expect(parseEnv({ AUTH_TRUST_UNVERIFIED_EMAIL: "true", WEBHOOK_ALLOW_PRIVATE: "on" })).toMatchObject({
      AUTH_TRUST_UNVERIFIED_EMAIL: true,
      WEBHOOK_ALLOW_PRIVATE: true,
    });
  });
});

describe("TRUSTED_PROXIES", () => {
  it("trusts nobody by default", () => {
    expect(parseEnv({}).TRUSTED_PROXIES).toEqual({ ranges: [] });
  });

  it("reads a hop count", () => {
    expect(parseEnv({ TRUSTED_PROXIES: "1" }).TRUSTED_PROXIES).toEqual({ hops: 1 });
    expect(parseEnv({ TRUSTED_PROXIES: "2" }).TRUSTED_PROXIES).toEqual({ hops: 2 });
  });

  it("reads addresses, CIDR blocks and Express's names", () => {
    const t = parseEnv({ TRUSTED_PROXIES: "10.0.0.7, 172.16.0.0/12, fd00::/8, ::1, loopback" }).TRUSTED_PROXIES;
    expect(t).toEqual({
      ranges: [
        { address: "10.0.0.7", prefix: 32, family: "ipv4" },
        { address: "172.16.0.0", prefix: 12, family: "ipv4" },
        { address: "fd00::", prefix: 8, family: "ipv6" },
        { address: "::1", prefix: 128, family: "ipv6" },
        { address: "127.0.0.0", prefix: 8, family: "ipv4" },
        { address: "::1", prefix: 128, family: "ipv6" },
      ],
    });
  });

  it("names a bad entry", () => {
    expect(() => parseEnv({ TRUSTED_PROXIES: "10.0.0.0/8, proxy.internal" })).toThrow(/TRUSTED_PROXIES: "proxy.internal" is not an IP address, a CIDR block/);
    expect(() => parseEnv({ TRUSTED_PROXIES: "10.0.0.0/33" })).toThrow(/TRUSTED_PROXIES/);
    expect(() => parseEnv({ TRUSTED_PROXIES: "300.1.1.1" })).toThrow(/TRUSTED_PROXIES/);
  });
});
