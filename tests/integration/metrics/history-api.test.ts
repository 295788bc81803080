// The history procedures through the real tRPC router: VM history only for its
// owner and admins, bounded inputs refused with a clear message.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { createCaller } from "~/server/api/root";
import type { Actor } from "~/server/permissions";
import { writeTick } from "~/server/metrics/store";

// The caller gets its actor from the test, not from a session cookie (Auth.js
// needs the Next.js runtime, which vitest does not provide).
vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));

let t: TestDb;
let owner: Actor, stranger: Actor, admin: Actor;
let vmId: string;

beforeAll(async () => {
  t = await createTestDb();
  const mk = async (email: string, role: "USER" | "ADMIN") => {
    const u = await t.db.user.create({ data: { email, role } });
    return { id: u.id, email, role } as Actor;
  };
  [owner, stranger, admin] = [await mk("owner@example.com", "USER"), await mk("other@example.com", "USER"), await mk("admin@example.com", "ADMIN")];
  const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
  const vm = await t.db.vm.create({
    data: { name: "web", activeName: "web", ownerId: owner.id, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state: "RUNNING" },
  });
  vmId = vm.id;
  const now = Date.now();
  for (let i = 20; i >= 1; i--)
    await writeTick(t.db, now - i * 5000, [
      { source: "host", values: { cpuPct: i } },
      { source: `vm:${vmId}`, values: { cpuPct: 2 * i } },
    ]);
});
afterAll(async () => t.close());

const as = (actor: Actor) => createCaller({ db: t.db, actor, sourceIp: null, userAgent: null });

describe("metrics history API", () => {
  it("serves a VM's history to its owner and to admins", async () => {
    for (const actor of [owner, admin]) {
      const h = await as(actor).metrics.vmHistory({ vmId, metrics: ["cpuPct"], range: "1h" });
      expect(h.tier).toBe("raw");
      expect(h.t.length).toBeLessThanOrEqual(500);
      const values = h.series.cpuPct!.max.filter((v): v is number => v !== null);
      expect(Math.max(...values)).toBe(40);
      // Buckets before the first sample are gaps, not zeros.
      expect(h.series.cpuPct!.avg[0]).toBeNull();
    }
  });

  it("hides a VM's history from other users as if it did not exist", async () => {
    await expect(as(stranger).metrics.vmHistory({ vmId, metrics: ["cpuPct"], range: "1h" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(as(stranger).metrics.vmCurrent({ vmId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const current = await as(stranger).metrics.current();
    expect(current.vms).toEqual([]);
    expect((await as(owner).metrics.current()).vms.map((v) => v.id)).toEqual([vmId]);
  });

  it("refuses unknown metrics, metrics a source does not have, and oversized ranges", async () => {
    await expect(as(owner).metrics.hostHistory({ metrics: ["bogus"], range: "24h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: 'Unknown metric "bogus".',
    });
    await expect(as(owner).metrics.vmHistory({ vmId, metrics: ["cpuIowaitPct"], range: "24h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: '"cpuIowaitPct" is not measured for VMs.',
    });
    const now = Date.now();
    await expect(as(owner).metrics.hostHistory({ metrics: ["cpuPct"], from: now - 400 * 86_400_000, to: now })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: "The range is too long: at most 366 days.",
    });
    await expect(as(owner).metrics.hostHistory({ metrics: ["cpuPct"] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("gives the host history and live state to any signed-in user", async () => {
    const h = await as(stranger).metrics.hostHistory({ metrics: ["cpuPct", "memPct"], range: "6h" });
    expect(h.tier).toBe("minute");
    const live = await as(stranger).metrics.current();
    expect(live.host.values.cpuPct).toBe(1);
    expect(live.host.ageMs).toBeGreaterThanOrEqual(5000);
    expect(live.host.trend.values.cpuPct).toHaveLength(20);
  });

  it("keeps the admin procedures for admins", async () => {
    await expect(as(owner).metrics.health()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      as(owner).metrics.createRule({
        name: "x",
        metric: "cpuPct",
        comparison: "gte",
        threshold: 1,
        clearThreshold: 0,
        durationS: 0,
        scope: "host",
        severity: "WARNING",
        enabled: true,
        webhookUrl: null,
      }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    const health = await as(admin).metrics.health();
    expect(health.rowsByTier.raw).toBe(40);
    expect(health.databaseBytes).toBeGreaterThan(0);
    const input = {
      name: "VM memory",
      metric: "memPct",
      comparison: "gte",
      threshold: 95,
      clearThreshold: 90,
      durationS: 120,
      scope: "vms",
      severity: "CRITICAL",
      enabled: true,
      webhookUrl: "https://hooks.example.com/x",
    } as const;
    const rule = await as(admin).metrics.createRule(input);
    await expect(as(admin).metrics.updateRule({ ...input, id: rule.id, clearThreshold: 99 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await as(admin).metrics.deleteRule({ id: rule.id });
    expect(await t.db.event.count({ where: { type: "admin", action: { startsWith: "alert_rule." } } })).toBe(2);
  });
});
