import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportEvents, recordEventsExport } from "~/server/events/export";
import { decodeCursor, getEvent, listEvents } from "~/server/events/feed";
import { eventFilterFromSearchParams, eventFilterToSearchParams, type EventFilter } from "~/server/events/filter";
import { recordEvent } from "~/server/events/record";
import { canViewEvent, type Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

let t: TestDb;
let admin: Actor, alice: Actor, bob: Actor;
let aliceVm: string, bobVm: string;
const base = new Date("2026-11-01T00:00:00Z").getTime();
const at = (min: number) => new Date(base + min * 60_000);

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeAll(async () => {
    t = await createTestDb({ provider });
    const mk = async (email: string, role: "USER" | "ADMIN" = "USER") => {
      const u = await t.db.user.create({ data: { email, role } });
      return { id: u.id, email, role } satisfies Actor;
    };
    admin = await mk("admin@example.com", "ADMIN");
    alice = await mk("alice@example.com");
    bob = await mk("bob@example.com");
    const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
    const vm = (ownerId: string, name: string) =>
      t.db.vm.create({ data: { name, activeName: name, ownerId, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu" } });
    aliceVm = (await vm(alice.id, "a1")).id;
    bobVm = (await vm(bob.id, "b1")).id;
    // alice's own actions, an admin acting on alice's VM, an admin targeting alice, bob's things, system/ssh events
    await recordEvent(t.db, {
      type: "vm",
      action: "vm.create",
      message: "alice created a1",
      actorId: alice.id,
      actorEmail: alice.email,
      targetVmId: aliceVm,
      at: at(1),
    });
    await recordEvent(t.db, {
      type: "vm",
      action: "vm.stop",
      message: "admin stopped a1",
      actorId: admin.id,
      actorEmail: admin.email,
      targetVmId: aliceVm,
      at: at(2),
    });
    await recordEvent(t.db, {
      type: "admin",
      action: "user.disable",
      severity: "WARNING",
      message: "admin disabled alice",
      actorId: admin.id,
      actorEmail: admin.email,
      targetUserId: alice.id,
      at: at(3),
    });
    await recordEvent(t.db, {
      type: "vm",
      action: "vm.create",
      message: "bob created b1",
      actorId: bob.id,
      actorEmail: bob.email,
      targetVmId: bobVm,
      at: at(4),
    });
    await recordEvent(t.db, {
      type: "auth",
      action: "signin",
      message: "bob signed in",
      actorId: bob.id,
      actorEmail: bob.email,
      sourceIp: "192.0.2.7",
      at: at(5),
    });
    await recordEvent(t.db, {
      type: "ssh",
      action: "ssh.failed",
      severity: "WARNING",
      message: "SSH: failed password for root from 203.0.113.5",
      sourceIp: "203.0.113.5",
      at: at(6),
    });
    await recordEvent(t.db, {
      type: "auth",
      action: "auth.brute_force",
      severity: "CRITICAL",
      message: "Brute force suspected from 203.0.113.5",
      sourceIp: "203.0.113.5",
      at: at(7),
    });
    // 120 events at the same instant, to page through ties on createdAt
    for (let i = 0; i < 120; i++) await recordEvent(t.db, { type: "system", action: "tick", message: `tick ${i}`, at: at(10) });
  });
  afterAll(() => t.close());

  async function all(actor: Actor, filter: EventFilter = {}, limit = 7) {
    const out: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof listEvents>> = await listEvents(t.db, actor, { ...filter, cursor, limit });
      out.push(...page.items.map((e) => e.message));
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  async function exported(actor: Actor, filter: EventFilter, format: "csv" | "jsonl") {
    let text = "";
    for await (const chunk of exportEvents(t.db, actor, filter, format, 3)) text += chunk;
    return text;
  }

  describe("event feed", () => {
    it("pages newest first through ties without gaps or repeats", async () => {
      const messages = await all(admin);
      expect(messages).toHaveLength(127);
      expect(new Set(messages).size).toBe(127);
      expect(messages.slice(-7)).toEqual([
        "Brute force suspected from 203.0.113.5",
        "SSH: failed password for root from 203.0.113.5",
        "bob signed in",
        "bob created b1",
        "admin disabled alice",
        "admin stopped a1",
        "alice created a1",
      ]);
    });

    it("shows a user only what they caused, what targets them and what concerns their VMs", async () => {
      expect(await all(alice, {}, 2)).toEqual(["admin disabled alice", "admin stopped a1", "alice created a1"]);
      expect(await all(bob)).toEqual(["bob signed in", "bob created b1"]);
    });

    it("filters by type, severity, time range, user, VM and free text", async () => {
      expect(await all(admin, { type: "ssh" })).toEqual(["SSH: failed password for root from 203.0.113.5"]);
      expect(await all(admin, { severity: "CRITICAL" })).toEqual(["Brute force suspected from 203.0.113.5"]);
      expect(await all(admin, { from: at(2), to: at(4) })).toEqual(["bob created b1", "admin disabled alice", "admin stopped a1"]);
      expect(await all(admin, { user: "alice@example.com" })).toEqual(["admin disabled alice", "alice created a1"]);
      expect(await all(admin, { user: bob.id })).toEqual(["bob signed in", "bob created b1"]);
      expect(await all(admin, { vm: aliceVm })).toEqual(["admin stopped a1", "alice created a1"]);
      expect(await all(admin, { q: "203.0.113" })).toEqual(["Brute force suspected from 203.0.113.5", "SSH: failed password for root from 203.0.113.5"]);
      expect(await all(admin, { q: "admin@example" })).toEqual(["admin disabled alice", "admin stopped a1"]);
      // Case does not matter, on SQLite and on PostgreSQL alike.
      expect(await all(admin, { q: "BRUTE force" })).toEqual(["Brute force suspected from 203.0.113.5"]);
      // a filter never widens what a user sees
      expect(await all(alice, { vm: bobVm })).toEqual([]);
      expect(await all(alice, { user: bob.email })).toEqual([]);
    });

    it("agrees with canViewEvent() from permissions.ts on every event", async () => {
      const everything = await t.db.event.findMany();
      for (const actor of [admin, alice, bob]) {
        const owned = new Set((await t.db.vm.findMany({ where: { ownerId: actor.id } })).map((v) => v.id));
        const expected = everything
          .filter((e) => canViewEvent(actor, e, owned))
          .map((e) => e.id)
          .sort();
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: Awaited<ReturnType<typeof listEvents>> = await listEvents(t.db, actor, { cursor, limit: 200 });
          seen.push(...page.items.map((e) => e.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen.sort(), actor.email).toEqual(expected);
      }
    });

    it("refuses a single event the user may not see", async () => {
      const bobs = await t.db.event.findFirstOrThrow({ where: { message: "bob created b1" } });
      expect(await getEvent(t.db, alice, bobs.id)).toBeNull();
      expect((await getEvent(t.db, bob, bobs.id))?.message).toBe("bob created b1");
    });

    it("round-trips the filter through the URL and ignores bad values", () => {
      const f: EventFilter = { type: "ssh", severity: "WARNING", from: at(1), user: "alice@example.com", q: "root" };
      expect(eventFilterFromSearchParams(eventFilterToSearchParams(f))).toEqual(f);
      expect(eventFilterFromSearchParams(new URLSearchParams("type=nope&severity=CRITICAL&from=garbage"))).toEqual({ severity: "CRITICAL" });
      expect(decodeCursor("x")).toBeNull();
    });
  });

  describe("event export", () => {
    it("exports the same events as the feed, as CSV and JSON lines", async () => {
      const csv = await exported(alice, {}, "csv");
      const rows = csv.trimEnd().split("\r\n");
      expect(rows[0]).toBe("id,createdAt,type,action,severity,actorId,actorEmail,targetUserId,targetVmId,sourceIp,userAgent,message,details");
      expect(rows.slice(1).map((r) => r.split(",")[11])).toEqual(["admin disabled alice", "admin stopped a1", "alice created a1"]);
      const jsonl = (await exported(bob, {}, "jsonl"))
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as { message: string; actorId: string });
      expect(jsonl.map((r) => r.message)).toEqual(["bob signed in", "bob created b1"]);
      expect(jsonl.every((r) => r.actorId === bob.id)).toBe(true);
      const everything = (await exported(admin, { type: "system" }, "jsonl")).trimEnd().split("\n");
      expect(everything).toHaveLength(120);
    });

    it("records who exported what, from where, as an event of its own", async () => {
      const before = await t.db.event.count();
      await recordEventsExport(t.db, alice, { type: "vm" }, "csv", { sourceIp: "198.51.100.7", userAgent: "curl/8" });
      await recordEventsExport(t.db, admin, {}, "jsonl");
      const rows = await t.db.event.findMany({ where: { action: "events.export" }, orderBy: { createdAt: "asc" } });
      expect(await t.db.event.count()).toBe(before + 2);
      expect(rows.map((r) => [r.type, r.actorId, r.message])).toEqual([
        ["auth", alice.id, `${alice.email} exported the event feed as CSV (type=vm).`],
        ["admin", admin.id, `${admin.email} exported the event feed as JSON lines.`],
      ]);
      expect(rows[0]).toMatchObject({ sourceIp: "198.51.100.7", userAgent: "curl/8" });
      await t.db.event.deleteMany({ where: { action: "events.export" } }); // the other tests count exact feeds
    });

    it("never lets another user's events out through the export", async () => {
      const text = await exported(alice, { user: bob.email }, "jsonl");
      expect(text).toBe("");
      const csv = await exported(alice, { q: "bob" }, "csv");
      expect(csv.trimEnd().split("\r\n")).toHaveLength(1);
    });

    it("quotes CSV and defuses formulas from log data", async () => {
      const evil = await recordEvent(t.db, {
        type: "ssh",
        action: "ssh.failed",
        message: '=HYPERLINK("http://x","click"), more',
        actorId: alice.id,
        at: at(20),
      });
      const csv = await exported(alice, { q: "HYPERLINK" }, "csv");
      expect(csv).toContain(`${evil.id},`);
      expect(csv).toContain(`"'=HYPERLINK(""http://x"",""click""), more"`);
    });
  });
});
