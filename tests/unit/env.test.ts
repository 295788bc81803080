import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { envSchema, localIdpEnabled, parseEnv } from "~/server/env";

describe("settings", () => {
  it("fills sensible defaults for the embedded setup", () => {
    const e = parseEnv({});
    expect(e.DATABASE_URL).toBe("file:./data/twarga.db");
    expect(e.SAMPLER_INTERVAL_MS).toBe(5000);
    expect(localIdpEnabled(e)).toBe(true);
  });

  it("names the bad setting and says how to fix it", () => {
    expect(() => parseEnv({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL: must start with file: \(SQLite\) or postgresql:\/\//);
    expect(() => parseEnv({ SAMPLER_INTERVAL_MS: "fast" })).toThrow(/SAMPLER_INTERVAL_MS/);
    expect(() => parseEnv({ AUTH_GITHUB_ID: "id", AUTH_ALLOWED_DOMAINS: "x.com" })).toThrow(
      /AUTH_GITHUB_SECRET: set both AUTH_GITHUB_ID and AUTH_GITHUB_SECRET/,
    );
  });

  it("refuses an external provider with nobody restricted", () => {
    expect(() => parseEnv({ AUTH_GITHUB_ID: "id", AUTH_GITHUB_SECRET: "s" })).toThrow(/AUTH_ALLOWED_DOMAINS: .*anyone with such an account could sign in/);
    expect(parseEnv({ AUTH_GITHUB_ID: "id", AUTH_GITHUB_SECRET: "s", AUTH_ALLOWED_EMAILS: "a@b.c" }).AUTH_ALLOWED_EMAILS).toEqual(["a@b.c"]);
  });

  it("requires AUTH_SECRET in production and keeps the local provider off there unless asked", () => {
    expect(() => parseEnv({ NODE_ENV: "production" })).toThrow(/AUTH_SECRET: is required in production/);
    const prod = parseEnv({ NODE_ENV: "production", AUTH_SECRET: "x".repeat(40) });
    expect(localIdpEnabled(prod)).toBe(false);
    expect(localIdpEnabled({ ...prod, LOCAL_IDP: "on" })).toBe(true);
    const external = parseEnv({ AUTH_OIDC_ISSUER: "https://id.example.com", AUTH_OIDC_ID: "a", AUTH_OIDC_SECRET: "b", AUTH_ALLOWED_DOMAINS: "example.com" });
    expect(localIdpEnabled(external)).toBe(false);
  });

  it("documents every setting in .env.example", () => {
    const example = readFileSync(".env.example", "utf8");
    const documented = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const missing = Object.keys(envSchema.shape).filter((k) => !["NODE_ENV", "APP_VERSION"].includes(k) && !documented.has(k));
    expect(missing).toEqual([]);
  });
});
