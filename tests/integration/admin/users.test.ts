// VM actions here need a host that passes the readiness gate.
import "../../support/stand-in-host";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bulkUserAction, deleteUser, searchUsers, setUserDisabled, setUserRole } from "~/server/admin/users";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

let t: TestDb;
let admin: Actor;

const mk = async (email: string, role: "USER" | "ADMIN" = "USER") => {
  const u = await t.db.user.create({ data: { email, role } });
  return { id: u.id, email, role } satisfies Actor;
};
const session = (userId: string, token: string) => t.db.session.create({ data: { userId, sessionToken: token, expires: new Date(Date.now() + 86_400_000) } });

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeEach(async () => {
    t = await createTestDb({ provider });
    admin = await mk("root@example.com", "ADMIN");
  });
  afterEach(() => t.close());

  describe("last-admin protection", () => {
    it("refuses to demote, disable or delete the last admin", async () => {
      const other = await mk("other-admin@example.com", "ADMIN");
      await setUserDisabled(t.db, admin, other.id, true);
      await expect(setUserRole(t.db, admin, admin.id, "USER")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("last admin") });
      await expect(setUserRole(t.db, other, admin.id, "USER")).rejects.toMatchObject({ code: "CONFLICT" });
      await expect(setUserDisabled(t.db, other, admin.id, true)).rejects.toMatchObject({ code: "CONFLICT" });
      await expect(deleteUser(t.db, other, admin.id)).rejects.toMatchObject({ code: "CONFLICT" });
      expect(await t.db.user.findUniqueOrThrow({ where: { id: admin.id } })).toMatchObject({ role: "ADMIN", disabled: false });
    });

    it("allows stepping down once another enabled admin exists", async () => {
      const other = await mk("second@example.com");
      await setUserRole(t.db, admin, other.id, "ADMIN");
      const change = await setUserRole(t.db, admin, admin.id, "USER");
      expect(change).toMatchObject({ before: { role: "ADMIN" }, after: { role: "USER" } });
      await expect(setUserRole(t.db, { ...other, role: "ADMIN" }, other.id, "USER")).rejects.toMatchObject({ code: "CONFLICT" });
    });

    it("of two admins demoting each other at once, one is refused", async () => {
      const other = { ...(await mk("peer@example.com", "ADMIN")) };
      const results = await Promise.allSettled([setUserRole(t.db, admin, other.id, "USER"), setUserRole(t.db, other, admin.id, "USER")]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(await t.db.user.count({ where: { role: "ADMIN" } })).toBe(1);
    });

    it("refuses all of it to a non-admin", async () => {
      const u = await mk("u@example.com");
      await expect(setUserRole(t.db, u, u.id, "ADMIN")).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(searchUsers(t.db, u)).rejects.toMatchObject({ code: "FORBIDDEN" });
    });
  });

  describe("disabling a user", () => {
    it("ends their sessions at once and leaves others alone", async () => {
      const u = await mk("dev@example.com");
      await session(u.id, "tok-1");
      await session(u.id, "tok-2");
      await session(admin.id, "tok-admin");
      const r = await setUserDisabled(t.db, admin, u.id, true);
      expect(r.sessionsEnded).toBe(2);
      expect(await t.db.session.findMany({ where: { userId: u.id } })).toEqual([]);
      expect(await t.db.session.count({ where: { userId: admin.id } })).toBe(1);
      expect((await t.db.user.findUniqueOrThrow({ where: { id: u.id } })).disabled).toBe(true);
      const ev = await t.db.event.findFirstOrThrow({ where: { action: "user.disable" } });
      expect(ev).toMatchObject({ targetUserId: u.id, actorId: admin.id });
      await setUserDisabled(t.db, admin, u.id, false);
      expect((await t.db.user.findUniqueOrThrow({ where: { id: u.id } })).disabled).toBe(false);
    });

    it("keeps their running VMs running unless asked to stop them", async () => {
      const u = await mk("vmuser@example.com");
      const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian", osFamily: "debian" } });
      const vm = await t.db.vm.create({
        data: { name: "web", activeName: "web", ownerId: u.id, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state: "RUNNING" },
      });
      await setUserDisabled(t.db, admin, u.id, true);
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
      await setUserDisabled(t.db, admin, u.id, false);
      const r = await setUserDisabled(t.db, admin, u.id, true, { stopVms: true });
      expect(r.stoppedVms).toEqual([vm.id]);
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("STOPPING");
      expect(await t.db.vmJob.count({ where: { vmId: vm.id, kind: "STOP" } })).toBe(1);
    });

    it("refuses to let an admin disable themselves", async () => {
      await mk("another@example.com", "ADMIN");
      await expect(setUserDisabled(t.db, admin, admin.id, true)).rejects.toMatchObject({ code: "BAD_REQUEST" });
    });
  });

  describe("deleting a user", () => {
    it("destroys their VMs first as jobs, then deletes the account and keeps their events", async () => {
      const u = await mk("leaver@example.com");
      await session(u.id, "tok-leaver");
      const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian", osFamily: "debian" } });
      const vm = await t.db.vm.create({
        data: { name: "old", activeName: "old", ownerId: u.id, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state: "STOPPED" },
      });
      const first = await deleteUser(t.db, admin, u.id);
      expect(first).toMatchObject({ status: "destroying", destroying: [vm.id], remainingVms: ["old"] });
      expect(await t.db.vmJob.count({ where: { vmId: vm.id, kind: "DESTROY" } })).toBe(1);
      expect(await t.db.session.count({ where: { userId: u.id } })).toBe(0);
      expect((await t.db.user.findUniqueOrThrow({ where: { id: u.id } })).disabled).toBe(true);
      // the job runner finishes the destroy
      await t.db.vm.update({ where: { id: vm.id }, data: { state: "DESTROYED", activeName: null, destroyedAt: new Date() } });
      expect((await deleteUser(t.db, admin, u.id)).status).toBe("deleted");
      expect(await t.db.user.findUnique({ where: { id: u.id } })).toBeNull();
      const kept = await t.db.event.findMany({ where: { targetUserId: u.id } });
      expect(kept.map((e) => e.action)).toEqual(expect.arrayContaining(["user.disable", "vm.destroy.requested", "user.delete"]));
    });
  });

  describe("bulk actions", () => {
    it("applies each action one by one and reports per user", async () => {
      const a = await mk("a@example.com");
      const b = await mk("b@example.com");
      const out = await bulkUserAction(t.db, admin, [a.id, "missing", b.id, admin.id], { kind: "disable" });
      expect(out.map((o) => [o.email, o.ok])).toEqual([
        ["a@example.com", true],
        [null, false],
        ["b@example.com", true],
        ["root@example.com", false], // cannot disable yourself
      ]);
      expect(await t.db.user.count({ where: { disabled: true } })).toBe(2);
      const grants = await bulkUserAction(t.db, admin, [a.id, b.id], { kind: "grant", amount: 10, reason: "thanks" });
      expect(grants.every((g) => g.ok)).toBe(true);
      expect(await t.db.creditLedgerEntry.count({ where: { reason: "thanks" } })).toBe(2);
    });

    it("searches users by email", async () => {
      await mk("alice@corp.example");
      await mk("bob@corp.example");
      expect((await searchUsers(t.db, admin, "ALICE")).map((u) => u.email)).toEqual(["alice@corp.example"]);
      expect((await searchUsers(t.db, admin)).length).toBe(3);
    });
  });
});
