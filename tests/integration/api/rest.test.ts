// The REST surface (/api/v1) as a script sees it: plain Requests with a bearer
// token into the real handler, a real database, the real job runner and the
// stand-in vagrant. Covers the script's whole path (launch, follow, stop,
// destroy), the token states, the scopes per endpoint, and the OpenAPI
// document, whose every path is called.
import { makeUser, testDbProvider, tinyBox } from "../vms/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { REST_OPERATIONS, scopeOf, handleRestRequest } from "~/server/api/rest";
import { openApiDocument } from "~/server/api/openapi";
import { API_SCOPES, createApiToken, revokeApiToken, type ApiScope } from "~/server/auth/api-tokens";
import type { Actor } from "~/server/permissions";
import { VmJobRunner } from "~/server/vms/runner";

let t: TestDb;
let runner: VmJobRunner;
let owner: Actor;
let other: Actor;
let boxId: string;
let fullToken: string;

const BASE = "http://localhost:3000/api/v1";

async function api(method: string, path: string, token: string | null, body?: unknown) {
  const headers: Record<string, string> = { "x-twarga-peer-address": "198.51.100.20", "user-agent": "script/1.0" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await handleRestRequest(t.db, new Request(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  const json = (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
  return { status: res.status, json, headers: res.headers };
}

const tokenFor = async (actor: Actor, scopes: ApiScope[]) => (await createApiToken(t.db, actor, { label: scopes.join("+"), scopes, expiresInDays: 1 })).token;

async function followJob(token: string, jobId: string) {
  let offset = 0;
  let output = "";
  for (let i = 0; i < 400; i++) {
    const { status, json } = await api("GET", `/jobs/${jobId}?fromOffset=${offset}`, token);
    expect(status).toBe(200);
    const job = json as { state: string; offset: number; output: string; length: number };
    output = job.offset === 0 ? job.output : output + job.output;
    offset = job.length;
    if (!["QUEUED", "RUNNING"].includes(job.state)) return { state: job.state, output };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("job did not end");
}

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  owner = await makeUser(t.db, "script@example.com");
  other = await makeUser(t.db, "other@example.com");
  runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
  fullToken = await tokenFor(owner, ["vms:read", "vms:write", "metrics:read", "events:read"]);
});
afterAll(async () => {
  await runner.stop();
  await t.close();
});

describe("a script with one token", () => {
  let vmId: string;

  it("launches a VM, follows its job to the end, stops and destroys it", async () => {
    const launched = await api("POST", "/vms", fullToken, { name: "scripted", boxId, cpus: 1, ramMb: 512, diskGb: 10 });
    expect(launched.status).toBe(202);
    vmId = launched.json.id as string;
    const created = await followJob(fullToken, launched.json.jobId as string);
    expect(created.state).toBe("SUCCEEDED");
    expect(created.output).toContain("Machine booted and ready!");

    const shown = await api("GET", `/vms/${vmId}`, fullToken);
    expect(shown.status).toBe(200);
    expect(shown.json).toMatchObject({ id: vmId, name: "scripted", state: "RUNNING" });
    const listed = await api("GET", "/vms", fullToken);
    expect((listed.json as unknown as { id: string }[]).map((v) => v.id)).toEqual([vmId]);

    const stopped = await api("POST", `/vms/${vmId}/stop`, fullToken);
    expect(stopped.status).toBe(202);
    expect((await followJob(fullToken, stopped.json.id as string)).state).toBe("SUCCEEDED");
    expect((await api("GET", `/vms/${vmId}`, fullToken)).json.state).toBe("STOPPED");

    const wrongName = await api("POST", `/vms/${vmId}/destroy`, fullToken, { confirmName: "not-it" });
    expect(wrongName.status).toBe(400);
    const destroyed = await api("POST", `/vms/${vmId}/destroy`, fullToken, { confirmName: "scripted" });
    expect(destroyed.status).toBe(202);
    expect((await followJob(fullToken, destroyed.json.id as string)).state).toBe("SUCCEEDED");
    expect((await api("GET", `/vms/${vmId}`, fullToken)).json.state).toBe("DESTROYED");

    // The events name the token's user and the script's address.
    const events = await api("GET", "/events?limit=50", fullToken);
    expect(events.status).toBe(200);
    const items = events.json.items as { action: string; actorId: string; sourceIp: string }[];
    expect(items.some((e) => e.action.startsWith("vm.") && e.actorId === owner.id && e.sourceIp === "198.51.100.20")).toBe(true);
  });

  it("reads current metrics and history", async () => {
    const current = await api("GET", "/metrics/current", fullToken);
    expect(current.status).toBe(200);
    const history = await api("GET", "/metrics/history?metrics=cpuPct,memPct&range=1h", fullToken);
    expect(history.status).toBe(200);
    const bad = await api("GET", "/metrics/history?range=2y", fullToken);
    expect(bad.status).toBe(400);
  });

  it("another user's VM looks missing", async () => {
    const otherToken = await tokenFor(other, ["vms:read", "vms:write"]);
    expect((await api("GET", `/vms/${vmId}`, otherToken)).status).toBe(404);
    expect((await api("POST", `/vms/${vmId}/start`, otherToken)).status).toBe(404);
    expect((await api("GET", "/vms?includeDestroyed=true", otherToken)).json).toEqual([]);
  });
});

describe("tokens the API refuses", () => {
  it("no token: 401 with a Bearer challenge", async () => {
    const res = await api("GET", "/vms", null);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it("a token in the query string: 400, even alongside a valid header", async () => {
    for (const q of [`access_token=${fullToken}`, `token=${fullToken}`, `x=${fullToken}`]) {
      const res = await api("GET", `/vms?${q}`, fullToken);
      expect(res.status).toBe(400);
      expect(res.json.error?.code).toBe("TOKEN_IN_URL");
    }
  });

  it("expired, revoked, and a disabled user's token: 401", async () => {
    const expiring = await createApiToken(t.db, owner, { label: "exp", scopes: ["vms:read"], expiresInDays: 1 });
    expect((await api("GET", "/vms", expiring.token)).status).toBe(200);
    await t.db.apiToken.update({ where: { id: expiring.apiToken.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    expect((await api("GET", "/vms", expiring.token)).status).toBe(401);

    const revoking = await createApiToken(t.db, owner, { label: "rev", scopes: ["vms:read"], expiresInDays: 1 });
    expect((await api("GET", "/vms", revoking.token)).status).toBe(200);
    await revokeApiToken(t.db, owner, revoking.apiToken.id);
    expect((await api("GET", "/vms", revoking.token)).status).toBe(401);

    const eve = await makeUser(t.db, "eve@example.com");
    const eveToken = await tokenFor(eve, ["vms:read"]);
    expect((await api("GET", "/vms", eveToken)).status).toBe(200);
    await t.db.user.update({ where: { id: eve.id }, data: { disabled: true } });
    expect((await api("GET", "/vms", eveToken)).status).toBe(401);
  });

  it("an unknown path is 404 and a wrong method 405", async () => {
    expect((await api("GET", "/nope", fullToken)).status).toBe(404);
    const res = await api("DELETE", "/vms", fullToken);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, POST");
  });
});

describe("each endpoint against each scope", () => {
  it.each(REST_OPERATIONS)("$method $path needs its procedure's scope", async (op) => {
    const scope = scopeOf(op.procedure);
    expect(scope).toBeDefined();
    const without = await tokenFor(
      owner,
      API_SCOPES.filter((s) => s !== scope && s !== "admin"),
    );
    const path = op.path.replace("{id}", "vm-that-does-not-exist").replace("{jobId}", "job-that-does-not-exist");
    const query = op.query && "metrics" in op.query.shape ? "?metrics=cpuPct&range=1h" : "";
    const body = op.body ? (op.path.endsWith("/destroy") ? { confirmName: "x" } : { name: "scoped", boxId, cpus: 1, ramMb: 512, diskGb: 10 }) : undefined;
    const refused = await api(op.method, path + query, without, body);
    expect(refused.status).toBe(403);
    expect(refused.json.error?.message).toBe(`This token lacks the “${scope}” scope.`);
    const allowed = await api(op.method, path + query, await tokenFor(owner, [scope!]), op.operationId === "launchVm" ? { ...body, name: "scoped-ok" } : body);
    // Past the scope check: success, or the domain's own answer for ids that do not exist.
    expect([200, 202, 404]).toContain(allowed.status);
    if (allowed.status === 404) expect(allowed.json.error?.message).not.toMatch(/No such endpoint/);
  });
});

describe("the OpenAPI document", () => {
  const doc = openApiDocument() as {
    openapi: string;
    paths: Record<string, Record<string, { operationId: string; "x-token-scope": string; security: unknown[]; parameters?: { name: string; in: string }[] }>>;
    components: { securitySchemes: Record<string, unknown> };
  };

  it("is OpenAPI 3.1 with a bearer scheme, one operation per REST operation, each with its scope", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearerToken).toMatchObject({ type: "http", scheme: "bearer" });
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ path, method: m.toUpperCase(), ...op })));
    expect(ops.map((o) => o.operationId).sort()).toEqual(REST_OPERATIONS.map((o) => o.operationId).sort());
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    for (const op of ops) {
      expect(API_SCOPES).toContain(op["x-token-scope"]);
      expect(op.security).toEqual([{ bearerToken: [op["x-token-scope"]] }]);
      for (const name of op.path.match(/\{(\w+)\}/g) ?? []) expect(op.parameters?.some((p) => p.in === "path" && `{${p.name}}` === name)).toBe(true);
    }
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it("every documented path answers (not 404 for the route itself)", async () => {
    const vm = await t.db.vm.findFirstOrThrow({ where: { ownerId: owner.id } });
    const job = await t.db.vmJob.findFirstOrThrow({ where: { vmId: vm.id } });
    const event = await t.db.event.findFirstOrThrow({ where: { actorId: owner.id } });
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const id = path.includes("/events/") ? event.id : vm.id;
        const url = path.replace("/api/v1", "").replace("{id}", id).replace("{jobId}", job.id) + (path.endsWith("/history") ? "?metrics=cpuPct&range=1h" : "");
        // Writes with empty bodies: validation answers, which proves the route exists without launching anything.
        const res = await api(method.toUpperCase(), url, fullToken, method === "post" ? {} : undefined);
        expect(res.json.error?.message ?? "", `${method} ${path}`).not.toMatch(/No such endpoint/);
        expect([200, 202, 400, 409, 412], `${method} ${path} -> ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`).toContain(res.status);
      }
    }
  });
});
