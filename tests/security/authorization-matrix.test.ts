// The authorization matrix: every procedure of the app router (walked from
// appRouter._def.procedures, so none can be forgotten) under every kind of
// caller, against the one table in authorization-table.ts. The context of each
// call is made by the app's own createTRPCContext, from a session as Auth.js
// would return it: the disabled user has a live session row and is still
// refused, because getActor reads the user afresh on every request.
import "../integration/vms/harness";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Db } from "~/server/db/client";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../support/db";
import { AUTHORIZATION, ROLES, newPublicKey, rule, type Outcome, type Role, type World } from "./authorization-table";

// What Auth.js's auth() returns for this request (the session cookie is not what is under test), and the app's db.
const request = vi.hoisted(() => ({ userId: null as string | null, db: null as unknown }));
vi.mock("~/server/auth/index", () => ({ auth: async () => (request.userId ? { user: { id: request.userId }, expires: "2999-01-01T00:00:00.000Z" } : null) }));
vi.mock("~/server/db", () => ({
  get db() {
    return request.db;
  },
}));

const { appRouter, createCaller } = await import("~/server/api/root");
const { createTRPCContext } = await import("~/server/api/trpc");
const { addSshKey } = await import("~/server/access/user-keys");
const { createAlertRule } = await import("~/server/metrics/alerts/rules");
const { recordEvent } = await import("~/server/events/record");
const { createApiToken } = await import("~/server/auth/api-tokens");

let t: TestDb;
let world: World;
const sessionOf: Record<Role, string | null> = { signedOut: null, disabled: null, stranger: null, owner: null, admin: null };

async function makeUser(db: Db, email: string, extra: { role?: "USER" | "ADMIN"; disabled?: boolean } = {}): Promise<Actor> {
  const u = await db.user.create({ data: { email, role: extra.role ?? "USER", disabled: extra.disabled ?? false } });
  // A live database session, as a signed-in browser has.
  await db.session.create({ data: { sessionToken: `token-${u.id}`, userId: u.id, expires: new Date(Date.now() + 86_400_000) } });
  return { id: u.id, email: u.email, role: u.role };
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${(++counter).toString(36)}-${process.pid.toString(36)}`;

beforeAll(async () => {
  t = await createTestDb();
  request.db = t.db;
  const db = t.db;
  const owner = await makeUser(db, "owner@example.com");
  const stranger = await makeUser(db, "stranger@example.com");
  const admin = await makeUser(db, "admin@example.com", { role: "ADMIN" });
  const disabled = await makeUser(db, "disabled@example.com", { disabled: true });
  Object.assign(sessionOf, { disabled: disabled.id, stranger: stranger.id, owner: owner.id, admin: admin.id });
  // Room for the VMs the rows make, so no quota stands between a caller and the rule under test.
  for (const u of [owner, stranger, admin])
    await db.userQuota.create({ data: { userId: u.id, maxVms: 1000, maxCpus: 10_000, maxRamMb: 10_000_000, maxDiskGb: 1_000_000, maxRunning: 1000 } });
  const { tinyBox } = await import("../integration/vms/harness");
  const boxId = (await tinyBox(db)).id;

  const freshVm = async (state: "RUNNING" | "STOPPED" | "PENDING") => {
    const name = unique("vm");
    const vm = await db.vm.create({ data: { name, activeName: name, ownerId: owner.id, boxId, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state } });
    return { id: vm.id, name };
  };
  const shared = await freshVm("RUNNING");
  const job = await db.vmJob.create({ data: { vmId: shared.id, requestedById: owner.id, requestedByEmail: owner.email, kind: "CREATE", state: "SUCCEEDED" } });
  const event = await recordEvent(db, {
    type: "vm",
    action: "vm.started",
    actorId: owner.id,
    actorEmail: owner.email,
    targetUserId: owner.id,
    targetVmId: shared.id,
    message: "the owner's VM started",
  });
  world = {
    owner,
    stranger,
    admin,
    boxId,
    vmId: shared.id,
    jobId: job.id,
    eventId: (event as { id: string }).id,
    freshVm,
    freshQueuedJob: async () => {
      const vm = await freshVm("PENDING");
      return (await db.vmJob.create({ data: { vmId: vm.id, requestedById: owner.id, requestedByEmail: owner.email, kind: "CREATE", state: "QUEUED" } })).id;
    },
    freshApiToken: async () => (await createApiToken(db, owner, { label: unique("token"), scopes: ["vms:read"], expiresInDays: 30 })).apiToken.id,
    freshSshKey: async () => (await addSshKey(db, owner, { label: unique("key"), publicKey: newPublicKey() })).id,
    freshUser: async () => (await db.user.create({ data: { email: `${unique("user")}@example.com` } })).id,
    freshAlertRule: async () =>
      (
        await createAlertRule(db, admin, {
          ...rule(unique("rule")),
          // A receiver's name, never called here (deliveries happen when an alert opens).
          webhookUrl: "https://hooks.example.com/twarga",
        })
      ).id,
    unique,
  };
});

afterAll(async () => {
  await t?.close();
});

const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).map(([path, p]) => ({
  path,
  type: p._def.type,
}));

/** Calls `path` as `role`, with a context built by the app's createTRPCContext: "ok" or the error's tRPC code, and the error's words. */
async function outcomeOf(role: Role, path: string, input: unknown): Promise<{ outcome: string; words?: string }> {
  request.userId = sessionOf[role];
  const ctx = await createTRPCContext({ headers: new Headers({ "user-agent": "authorization-matrix" }) });
  let target: unknown = createCaller(ctx);
  for (const segment of path.split(".")) target = (target as Record<string, unknown>)[segment];
  try {
    await (target as (i: unknown) => Promise<unknown>)(input);
    return { outcome: "ok" };
  } catch (err) {
    return err instanceof TRPCError ? { outcome: err.code, words: err.message } : { outcome: "thrown", words: String(err) };
  }
}

describe("the authorization matrix", () => {
  it("has exactly one row per procedure of the app router", () => {
    expect(procedures.length).toBeGreaterThan(50);
    const missing = procedures.map((p) => p.path).filter((p) => !(p in AUTHORIZATION));
    const stale = Object.keys(AUTHORIZATION).filter((p) => !procedures.some((q) => q.path === p));
    expect(missing, "procedures with no row in tests/security/authorization-table.ts").toEqual([]);
    expect(stale, "rows for procedures that no longer exist").toEqual([]);
  });

  it.each(procedures.filter((p) => p.path in AUTHORIZATION))("$path ($type)", async ({ path }) => {
    const row = AUTHORIZATION[path]!;
    const seen: Record<string, string> = {};
    const words: Record<string, string | undefined> = {};
    // The refused callers first: a success by the owner must not change what they would have met.
    for (const role of ROLES) ({ outcome: seen[role]!, words: words[role] } = await outcomeOf(role, path, await row.input?.(world)));
    expect(seen, `what the callers were told: ${JSON.stringify(words)}`).toEqual(row.rule satisfies Record<Role, Outcome>);
  });
});
