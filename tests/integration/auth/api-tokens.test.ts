// Personal API tokens against a real database (SQLite, and PostgreSQL when
// TEST_POSTGRES_URL is set): creation, hashing, the states that stop a token
// (expired, revoked, disabled user), last-use bookkeeping, and the scope rules
// applied to every procedure of the app router.
import { TRPCError } from "@trpc/server";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, postgresAvailable, type TestDb } from "../../support/db";
import { appRouter, createCaller } from "~/server/api/root";
import type { Context } from "~/server/api/trpc";
import {
  API_SCOPES,
  authenticateApiToken,
  authenticateBearer,
  createApiToken,
  listApiTokens,
  revokeApiToken,
  tokenInQueryString,
  type ApiScope,
} from "~/server/auth/api-tokens";
import type { Actor } from "~/server/permissions";

const REQUEST = { sourceIp: "203.0.113.7", userAgent: "vitest" };

async function makeUser(db: TestDb["db"], email: string, role: "USER" | "ADMIN" = "USER"): Promise<Actor> {
  const u = await db.user.create({ data: { email, role } });
  return { id: u.id, email: u.email, role: u.role };
}

const providers = postgresAvailable() ? (["sqlite", "postgresql"] as const) : (["sqlite"] as const);

describe.each(providers)("API tokens on %s", (provider) => {
  let t: TestDb;
  let alice: Actor;
  let bob: Actor;
  let admin: Actor;
  beforeAll(async () => {
    t = await createTestDb({ provider });
    alice = await makeUser(t.db, `alice-${provider}@example.com`);
    bob = await makeUser(t.db, `bob-${provider}@example.com`);
    admin = await makeUser(t.db, `admin-${provider}@example.com`, "ADMIN");
  });
  afterAll(async () => t.close());

  it("creates a token that is shown once and stored only as its sha256, with an event", async () => {
    const { token, apiToken } = await createApiToken(t.db, alice, { label: "ci", scopes: ["vms:read", "events:read"], expiresInDays: 30 }, REQUEST);
    expect(token).toMatch(/^twc_[A-Za-z0-9]{40}$/);
    expect(apiToken.prefix).toBe(token.slice(0, 12));
    expect(apiToken.scopes).toEqual(["vms:read", "events:read"]);
    expect(apiToken.status).toBe("active");
    expect(Math.abs(apiToken.expiresAt.getTime() - (Date.now() + 30 * 86_400_000))).toBeLessThan(10_000);

    const row = await t.db.apiToken.findUniqueOrThrow({ where: { id: apiToken.id } });
    expect(row.tokenHash).toBe(createHash("sha256").update(token).digest("hex"));
    // The secret is nowhere in the row.
    expect(JSON.stringify(row)).not.toContain(token.slice(12));

    const listed = await listApiTokens(t.db, alice);
    expect(listed.map((x) => x.id)).toContain(apiToken.id);
    expect(JSON.stringify(listed)).not.toContain(token.slice(12));
    expect(JSON.stringify(listed)).not.toContain(row.tokenHash);

    const event = await t.db.event.findFirstOrThrow({ where: { action: "apitoken.create", actorId: alice.id } });
    expect(event.sourceIp).toBe("203.0.113.7");
    expect(event.message).toContain(apiToken.prefix);
    expect(event.message).not.toContain(token.slice(12));
  });

  it("gives the admin scope to admins only, and refuses bad input", async () => {
    await expect(createApiToken(t.db, alice, { label: "x", scopes: ["admin"], expiresInDays: 1 })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(createApiToken(t.db, alice, { label: "x", scopes: [], expiresInDays: 1 })).rejects.toThrow();
    await expect(createApiToken(t.db, alice, { label: "x", scopes: ["vms:read"], expiresInDays: 366 })).rejects.toThrow();
    await expect(createApiToken(t.db, alice, { label: "x", scopes: ["root" as ApiScope], expiresInDays: 1 })).rejects.toThrow();
    const { apiToken } = await createApiToken(t.db, admin, { label: "ops", scopes: ["admin", "vms:read"], expiresInDays: 1 });
    expect(apiToken.scopes).toEqual(["vms:read", "admin"]);
  });

  it("authenticates a valid token as its user and refuses a wrong secret with a right prefix", async () => {
    const { token } = await createApiToken(t.db, alice, { label: "a", scopes: ["vms:read"], expiresInDays: 1 });
    const ok = await authenticateApiToken(t.db, token, REQUEST);
    expect(ok?.actor).toEqual({ id: alice.id, email: alice.email, role: "USER" });
    expect(ok?.scopes).toEqual(["vms:read"]);
    const last = token.at(-1) === "a" ? "b" : "a";
    expect(await authenticateApiToken(t.db, token.slice(0, -1) + last, REQUEST)).toBeNull();
    expect(await authenticateApiToken(t.db, "twc_short", REQUEST)).toBeNull();
    expect(await authenticateApiToken(t.db, token.replace("twc_", "xyz_"), REQUEST)).toBeNull();
  });

  it("refuses an expired token", async () => {
    const { token, apiToken } = await createApiToken(t.db, alice, { label: "old", scopes: ["vms:read"], expiresInDays: 1 });
    expect(await authenticateApiToken(t.db, token)).not.toBeNull();
    await t.db.apiToken.update({ where: { id: apiToken.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await authenticateApiToken(t.db, token)).toBeNull();
    expect((await listApiTokens(t.db, alice)).find((x) => x.id === apiToken.id)?.status).toBe("expired");
  });

  it("refuses a revoked token from the next request on; only its owner can revoke it; revocation is an event", async () => {
    const { token, apiToken } = await createApiToken(t.db, alice, { label: "rev", scopes: ["vms:read"], expiresInDays: 1 });
    expect(await authenticateApiToken(t.db, token)).not.toBeNull();
    await expect(revokeApiToken(t.db, bob, apiToken.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(revokeApiToken(t.db, admin, apiToken.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await authenticateApiToken(t.db, token)).not.toBeNull();
    const revoked = await revokeApiToken(t.db, alice, apiToken.id, REQUEST);
    expect(revoked.status).toBe("revoked");
    expect(await authenticateApiToken(t.db, token)).toBeNull();
    const event = await t.db.event.findFirstOrThrow({ where: { action: "apitoken.revoke", actorId: alice.id } });
    expect(event.details).toBeTruthy();
    expect(event.message).toContain(apiToken.prefix);
  });

  it("stops a disabled user's tokens at once, and brings them back when re-enabled", async () => {
    const carol = await makeUser(t.db, `carol-${provider}@example.com`);
    const { token } = await createApiToken(t.db, carol, { label: "c", scopes: ["vms:read"], expiresInDays: 1 });
    expect(await authenticateApiToken(t.db, token)).not.toBeNull();
    await t.db.user.update({ where: { id: carol.id }, data: { disabled: true } });
    expect(await authenticateApiToken(t.db, token)).toBeNull();
    await t.db.user.update({ where: { id: carol.id }, data: { disabled: false } });
    expect(await authenticateApiToken(t.db, token)).not.toBeNull();
  });

  it("acts as an admin only with the admin scope and while its user is an admin", async () => {
    const dave = await makeUser(t.db, `dave-${provider}@example.com`, "ADMIN");
    const withAdmin = (await createApiToken(t.db, dave, { label: "adm", scopes: ["admin", "vms:read"], expiresInDays: 1 })).token;
    const without = (await createApiToken(t.db, dave, { label: "plain", scopes: ["vms:read"], expiresInDays: 1 })).token;
    expect((await authenticateApiToken(t.db, withAdmin))?.actor.role).toBe("ADMIN");
    expect((await authenticateApiToken(t.db, without))?.actor.role).toBe("USER");
    await t.db.user.update({ where: { id: dave.id }, data: { role: "USER" } });
    expect((await authenticateApiToken(t.db, withAdmin))?.actor.role).toBe("USER");
  });

  it("notes the last use (time and address) at most once a minute", async () => {
    const { token, apiToken } = await createApiToken(t.db, alice, { label: "lu", scopes: ["vms:read"], expiresInDays: 1 });
    const t0 = new Date();
    await authenticateApiToken(t.db, token, { sourceIp: "198.51.100.1", userAgent: null }, t0);
    let row = await t.db.apiToken.findUniqueOrThrow({ where: { id: apiToken.id } });
    expect(row.lastUsedAt?.getTime()).toBe(t0.getTime());
    expect(row.lastUsedIp).toBe("198.51.100.1");
    // 30 s later from elsewhere: not written.
    await authenticateApiToken(t.db, token, { sourceIp: "198.51.100.2", userAgent: null }, new Date(t0.getTime() + 30_000));
    row = await t.db.apiToken.findUniqueOrThrow({ where: { id: apiToken.id } });
    expect(row.lastUsedIp).toBe("198.51.100.1");
    // 61 s later: written.
    const t2 = new Date(t0.getTime() + 61_000);
    await authenticateApiToken(t.db, token, { sourceIp: "198.51.100.3", userAgent: null }, t2);
    row = await t.db.apiToken.findUniqueOrThrow({ where: { id: apiToken.id } });
    expect(row.lastUsedAt?.getTime()).toBe(t2.getTime());
    expect(row.lastUsedIp).toBe("198.51.100.3");
    const listed = (await listApiTokens(t.db, alice)).find((x) => x.id === apiToken.id);
    expect(listed?.lastUsedIp).toBe("198.51.100.3");
  });

  it("authenticateBearer: header only, scope checked, a token in the URL refused", async () => {
    const { token } = await createApiToken(t.db, alice, { label: "h9", scopes: ["metrics:read"], expiresInDays: 1 });
    const req = (url: string, headers: Record<string, string> = {}) => new Request(url, { headers });
    expect(await authenticateBearer(t.db, req("http://x/api/metrics", { authorization: `Bearer ${token}` }), "metrics:read")).toMatchObject({ id: alice.id });
    expect(await authenticateBearer(t.db, req("http://x/api/metrics", { authorization: `Bearer ${token}` }), "vms:read")).toBeNull();
    expect(await authenticateBearer(t.db, req("http://x/api/metrics", { authorization: `Basic ${token}` }), "metrics:read")).toBeNull();
    expect(await authenticateBearer(t.db, req("http://x/api/metrics"), "metrics:read")).toBeNull();
    expect(await authenticateBearer(t.db, req(`http://x/api/metrics?access_token=${token}`), "metrics:read")).toBeNull();
    // Even with a valid header, a token also in the URL is refused.
    expect(await authenticateBearer(t.db, req(`http://x/api/metrics?x=${token}`, { authorization: `Bearer ${token}` }), "metrics:read")).toBeNull();
    expect(tokenInQueryString("http://x/a?token=abc")).toBe(true);
    expect(tokenInQueryString("http://x/a?range=1h&metrics=cpu")).toBe(false);
    // Searching for the prefix itself is not a token.
    expect(tokenInQueryString("http://x/events?q=twc_")).toBe(false);
  });
});

// The scope rules over every procedure of the app router, so a new procedure
// cannot slip past: a token reaches a procedure only if the procedure names a
// scope and the token has it; admin procedures need `admin` and an admin user.
describe("scopes against every procedure", () => {
  let t: TestDb;
  let user: Actor;
  let adminUser: Actor;
  beforeAll(async () => {
    t = await createTestDb();
    user = await makeUser(t.db, "matrix-user@example.com");
    adminUser = await makeUser(t.db, "matrix-admin@example.com", "ADMIN");
  });
  afterAll(async () => t.close());

  const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { meta?: { scope?: ApiScope } } }>).map(([path, proc]) => ({
    path,
    scope: proc._def.meta?.scope,
  }));

  async function call(path: string, ctx: Context): Promise<string> {
    let target: unknown = createCaller(ctx);
    for (const key of path.split(".")) target = (target as Record<string, unknown>)[key];
    try {
      // No input: a call that passes the scope check fails on input or in the domain, never silently.
      await (target as (input?: unknown) => Promise<unknown>)(undefined);
      return "OK";
    } catch (err) {
      return err instanceof TRPCError ? `${err.code}: ${err.message}` : `THROWN: ${String(err)}`;
    }
  }
  const tokenCtx = (actor: Actor, scopes: ApiScope[]): Context => ({ db: t.db, actor, tokenScopes: scopes, sourceIp: null, userAgent: "vitest" });

  it("states the scope of the token-reachable procedures a script needs", () => {
    const byPath = Object.fromEntries(procedures.map((p) => [p.path, p.scope]));
    expect(byPath).toMatchObject({
      "vms.list": "vms:read",
      "vms.get": "vms:read",
      "vms.job": "vms:read",
      "vms.create": "vms:write",
      "vms.start": "vms:write",
      "vms.stop": "vms:write",
      "vms.restart": "vms:write",
      "vms.destroy": "vms:write",
      "metrics.current": "metrics:read",
      "metrics.hostHistory": "metrics:read",
      "metrics.vmHistory": "metrics:read",
      "events.list": "events:read",
    });
    // Tokens never manage tokens.
    expect(byPath["apiTokens.create"]).toBeUndefined();
    expect(byPath["apiTokens.revoke"]).toBeUndefined();
    expect(procedures.length).toBeGreaterThan(20);
  });

  it.each(procedures)("$path: refused to a token without its scope", async ({ path, scope }) => {
    const others = API_SCOPES.filter((s) => s !== scope);
    const result = await call(path, tokenCtx(adminUser, others));
    if (scope) expect(result).toBe(`FORBIDDEN: This token lacks the “${scope}” scope.`);
    else expect(result).toBe("FORBIDDEN: API tokens cannot call this; sign in instead.");
  });

  it.each(procedures.filter((p) => p.scope))("$path: passes the scope check with its scope", async ({ path, scope }) => {
    // An admin user's token with `admin` (the role as authenticateApiToken derives it).
    const result = await call(path, tokenCtx(adminUser, [scope!]));
    expect(result).not.toMatch(/lacks the|API tokens cannot|Sign in first/);
    if (scope === "admin") {
      // A non-admin's token with the `admin` scope (were it to exist) still gets no admin procedure.
      expect(await call(path, tokenCtx(user, ["admin"]))).toBe("FORBIDDEN: Admins only.");
    } else {
      expect(result).not.toBe("FORBIDDEN: Admins only.");
    }
  });

  it("a session (no token) keeps full power: the scope check does not apply", async () => {
    const result = await call("apiTokens.list", { db: t.db, actor: user, sourceIp: null, userAgent: null });
    expect(result).toBe("OK");
  });
});
