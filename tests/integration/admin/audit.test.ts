// Walks every procedure of the admin router: each refuses non-admins, and each
// mutation writes exactly one AuditLog row naming the admin and the procedure.
// VM actions here need a host that passes the readiness gate.
import "../../support/stand-in-host";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { appRouter, createCaller } from "~/server/api/root";
import { STOP_ALL_PHRASE } from "~/server/api/routers/admin";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

// The caller gets its actor from the test; next-auth is not loaded.
vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));

let t: TestDb;
let admin: Actor, user: Actor;
const ids: Record<string, string> = {};

const caller = (actor: Actor | null) => createCaller({ db: t.db, actor, sourceIp: "192.0.2.1", userAgent: "vitest" });

/** A valid input for every admin mutation. A mutation missing here fails the walk below. */
const mutationInputs: Record<string, () => unknown> = {
  setRole: () => ({ userId: ids.demoted, role: "ADMIN" }),
  setDisabled: () => ({ userId: ids.victim, disabled: true }),
  deleteUser: () => ({ userId: ids.victim }),
  bulk: () => ({ userIds: [ids.bulk1, ids.bulk2], action: { kind: "grant", amount: 5, reason: "bulk test" } }),
  grantCredits: () => ({ userId: ids.grantee, amount: 25, reason: "welcome" }),
  setQuota: () => ({ userId: ids.quota, maxVms: 10, maxRunning: null }),
  vmStop: () => ({ vmId: ids.running }),
  vmStart: () => ({ vmId: ids.stopped }),
  vmDestroy: () => ({ vmId: ids.doomed }),
  stopAll: () => ({ confirm: STOP_ALL_PHRASE, reason: "test" }),
  boxCreate: () => ({ name: "local/alpine", displayName: "Alpine", osFamily: "alpine", minCpus: 1, minRamMb: 256, minDiskGb: 2, enabled: true }),
  boxUpdate: () => ({ id: ids.box, enabled: false }),
  boxAdd: () => ({ source: { kind: "url", url: "http://127.0.0.1:9/alpine.box" }, name: "local/alpine-added" }),
  queueMove: () => ({ jobId: ids.queuedMove, to: "front" }),
  queueCancel: () => ({ jobId: ids.queuedCancel }),
};
const queryInputs: Record<string, unknown> = { user: { userId: "x" }, audit: {}, queue: undefined };

const adminProcedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
  .filter(([path]) => path.startsWith("admin."))
  .map(([path, p]) => ({ path, name: path.slice("admin.".length), type: p._def.type }));

async function call(actor: Actor | null, name: string, input: unknown) {
  const router = caller(actor).admin as unknown as Record<string, (i: unknown) => Promise<unknown>>;
  return router[name]!(input);
}

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeAll(async () => {
    t = await createTestDb({ provider });
    const mk = async (email: string, role: "USER" | "ADMIN") => {
      const u = await t.db.user.create({ data: { email, role } });
      return { id: u.id, email, role } satisfies Actor;
    };
    admin = await mk("admin@example.com", "ADMIN");
    user = await mk("user@example.com", "USER");
    for (const name of ["victim", "bulk1", "bulk2", "quota", "grantee", "demoted", "queuer"]) ids[name] = (await mk(`${name}@example.com`, "USER")).id;
    const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
    ids.box = box.id;
    const vm = async (name: string, state: "RUNNING" | "STOPPED") =>
      (await t.db.vm.create({ data: { name, activeName: name, ownerId: user.id, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state } })).id;
    ids.running = await vm("r1", "RUNNING");
    ids.stopped = await vm("s1", "STOPPED");
    ids.doomed = await vm("d1", "STOPPED");
    await vm("r2", "RUNNING"); // for stop-all
    // Two launches of another user waiting in the queue (no runner here takes them): one to move, one to cancel.
    for (const name of ["queuedMove", "queuedCancel"]) {
      const v = await t.db.vm.create({
        data: {
          name: name.toLowerCase(),
          activeName: name.toLowerCase(),
          ownerId: ids.queuer!,
          boxId: box.id,
          cpus: 1,
          ramMb: 512,
          diskGb: 10,
          driver: "qemu",
          state: "CREATING",
        },
      });
      ids[name] = (await t.db.vmJob.create({ data: { vmId: v.id, kind: "CREATE", requestedById: ids.queuer!, requestedByEmail: "queuer@example.com" } })).id;
    }
  });
  afterAll(() => t.close());

  describe("admin router", () => {
    it("has mutations and queries to walk", () => {
      expect(adminProcedures.filter((p) => p.type === "mutation").length).toBeGreaterThanOrEqual(12);
      expect(
        adminProcedures
          .filter((p) => p.type === "mutation")
          .map((p) => p.name)
          .sort(),
      ).toEqual(Object.keys(mutationInputs).sort());
    });

    it("refuses every procedure to a non-admin and to the signed-out", async () => {
      for (const p of adminProcedures) {
        const input = p.type === "mutation" ? mutationInputs[p.name]!() : queryInputs[p.name];
        await expect(call(user, p.name, input), p.path).rejects.toMatchObject({ code: "FORBIDDEN" });
        await expect(call(null, p.name, input), p.path).rejects.toMatchObject({ code: "UNAUTHORIZED" });
      }
      expect(await t.db.auditLog.count()).toBe(0);
    });

    it("writes one audit row for every mutation, with who, what, target, before and after", async () => {
      for (const p of adminProcedures.filter((x) => x.type === "mutation")) {
        const before = await t.db.auditLog.count();
        await call(admin, p.name, mutationInputs[p.name]!());
        const rows = await t.db.auditLog.findMany({ orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: 2 });
        expect(await t.db.auditLog.count(), p.path).toBe(before + 1);
        expect(rows[0], p.path).toMatchObject({ action: p.path, actorId: admin.id, actorEmail: admin.email });
        expect(rows[0]!.targetType, p.path).toBeTruthy();
        expect(rows[0]!.after, p.path).not.toBeNull();
      }
      const role = await t.db.auditLog.findFirstOrThrow({ where: { action: "admin.setRole" } });
      expect(role).toMatchObject({ targetType: "User", targetId: ids.demoted, before: { role: "USER" }, after: { role: "ADMIN" } });
      const grant = await t.db.auditLog.findFirstOrThrow({ where: { action: "admin.grantCredits" } });
      expect((grant.after as { balance: number }).balance - (grant.before as { balance: number }).balance).toBe(25);
      const box = await t.db.auditLog.findFirstOrThrow({ where: { action: "admin.boxUpdate" } });
      expect(box).toMatchObject({ before: { enabled: true }, after: { enabled: false } });
    });

    it("does not audit a refused mutation, and refuses a stop-all without the typed phrase", async () => {
      const before = await t.db.auditLog.count();
      await expect(call(admin, "stopAll", { confirm: "stop all" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
      expect(await t.db.auditLog.count()).toBe(before);
    });

    it("lists the audit log with filters, newest first", async () => {
      const page = (await call(admin, "audit", { action: "setRole" })) as { items: { action: string }[] };
      expect(page.items.map((i) => i.action)).toEqual(["admin.setRole"]);
      const byActor = (await call(admin, "audit", { actor: admin.email, limit: 3 })) as { items: unknown[]; nextCursor: string | null };
      expect(byActor.items).toHaveLength(3);
      const next = (await call(admin, "audit", { actor: admin.email, limit: 200, cursor: byActor.nextCursor })) as { items: unknown[] };
      expect(byActor.items.length + next.items.length).toBe(await t.db.auditLog.count());
    });

    it("keeps the audit log append-only in the database itself", async () => {
      const row = await t.db.auditLog.findFirstOrThrow();
      await expect(t.db.auditLog.update({ where: { id: row.id }, data: { action: "tampered" } })).rejects.toThrow(/append-only/);
      await expect(t.db.auditLog.delete({ where: { id: row.id } })).rejects.toThrow(/append-only/);
    });
  });
});
