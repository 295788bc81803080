// The phone status page's one query (metrics.status): the host's state from its
// open alerts (opened by the real evaluator), its figures now, the actor's own
// VMs only (admins included) with their CPU, an admin's count of the rest, and
// the open alerts each caller may see. On SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";
import { createCaller } from "~/server/api/root";
import type { Actor } from "~/server/permissions";
import { writeTick } from "~/server/metrics/store";
import { AlertEvaluator } from "~/server/metrics/alerts/evaluator";
import { hostStateOf, statusSummary } from "~/server/metrics/status";
import { env } from "~/server/env";

vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));

const INTERVAL = env().SAMPLER_INTERVAL_MS;

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`status summary (${title})`, () => {
    let t: TestDb;
    let alice: Actor, bob: Actor, admin: Actor;
    const vm: Record<string, string> = {};
    const now = Date.now();

    beforeAll(async () => {
      t = await createTestDb({ provider });
      const mk = async (email: string, role: "USER" | "ADMIN") => {
        const u = await t.db.user.create({ data: { email, role } });
        return { id: u.id, email, role } as Actor;
      };
      [alice, bob, admin] = [await mk("alice@example.com", "USER"), await mk("bob@example.com", "USER"), await mk("root@example.com", "ADMIN")];
      const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
      const mkVm = async (name: string, owner: Actor, state: "RUNNING" | "STOPPED" | "DESTROYED" | "ERROR") => {
        const v = await t.db.vm.create({
          data: {
            name,
            activeName: state === "DESTROYED" ? null : name,
            ownerId: owner.id,
            boxId: box.id,
            cpus: 1,
            ramMb: 512,
            diskGb: 10,
            driver: "qemu",
            state,
          },
        });
        vm[name] = v.id;
      };
      await mkVm("web", alice, "RUNNING");
      await mkVm("db", alice, "STOPPED");
      await mkVm("quiet", alice, "RUNNING"); // running, but no reading lately
      await mkVm("gone", alice, "DESTROYED");
      await mkVm("bobs", bob, "RUNNING");
      await mkVm("admins-own", admin, "ERROR");

      // Ticks as the sampler writes them; the last one 1 s ago. "quiet" has only an old reading.
      await writeTick(t.db, now - 10 * 60_000, [{ source: `vm:${vm.quiet}`, values: { cpuPct: 55 } }]);
      for (let i = 3; i >= 0; i--)
        await writeTick(t.db, now - 1000 - i * INTERVAL, [
          { source: "host", values: { cpuPct: 10 + i, memPct: 42.5, fsPct: 91 } },
          { source: `vm:${vm.web}`, values: { cpuPct: 7 + i } },
          { source: `vm:${vm.bobs}`, values: { cpuPct: 99 } },
        ]);

      // Real alerts: a disk rule (critical) on the host, a CPU rule on VMs.
      await t.db.alertRule.create({
        data: { name: "Disk full", metric: "fsPct", comparison: "gte", threshold: 90, clearThreshold: 85, durationS: 0, scope: "host", severity: "CRITICAL" },
      });
      await t.db.alertRule.create({
        data: { name: "VM busy", metric: "cpuPct", comparison: "gte", threshold: 90, clearThreshold: 80, durationS: 0, scope: "vms", severity: "WARNING" },
      });
      const ev = new AlertEvaluator();
      await ev.evaluate(
        t.db,
        [
          { source: "host", values: { fsPct: 91 } },
          { source: `vm:${vm.bobs}`, values: { cpuPct: 99 } },
        ],
        now - 1000,
      );
      expect(await t.db.alertInstance.count({ where: { resolvedAt: null } })).toBe(2);
    });
    afterAll(async () => t?.close());

    it("shows a user their own VMs only, with CPU for running ones that have a recent reading", async () => {
      const s = await statusSummary(t.db, alice, now);
      expect(s.vms.map((v) => [v.name, v.state, v.cpuPct])).toEqual([
        ["db", "STOPPED", null],
        ["quiet", "RUNNING", null],
        ["web", "RUNNING", 7],
      ]);
      expect(s.others).toBeNull();
      expect(s.host).toEqual({ ts: now - 1000, cpuPct: 10, memPct: 42.5, fsPct: 91 });
    });

    it("gives an admin their own VMs, not everyone's, and counts the rest", async () => {
      const s = await statusSummary(t.db, admin, now);
      expect(s.vms.map((v) => v.name)).toEqual(["admins-own"]);
      // alice's web, db, quiet and bob's bobs; the destroyed one is not counted.
      expect(s.others).toEqual({ vms: 4, running: 3 });
    });

    it("takes the host's state from the host's own open alerts, and lists the alerts each caller may see", async () => {
      const forAlice = await statusSummary(t.db, alice, now);
      expect(forAlice.hostState).toBe("critical");
      // bob's VM alert is not alice's to see.
      expect(forAlice.alerts.map((a) => [a.severity, a.ruleName, a.subject])).toEqual([["CRITICAL", "Disk full", "host"]]);

      const forBob = await statusSummary(t.db, bob, now);
      expect(forBob.alerts.map((a) => [a.severity, a.subject, a.vmId]).sort()).toEqual([
        ["CRITICAL", "host", null],
        ["WARNING", "bobs", vm.bobs],
      ]);
      // The admin sees bob's VM alert too, named.
      expect((await statusSummary(t.db, admin, now)).alerts.map((a) => a.subject).sort()).toEqual(["bobs", "host"]);
    });

    it("leaves the figures out when the sampler has written nothing for three intervals", async () => {
      const later = now + 3 * INTERVAL + 2000;
      const s = await statusSummary(t.db, alice, later);
      expect(s.host).toBeNull();
      expect(s.vms.find((v) => v.name === "web")!.cpuPct).toBeNull();
    });

    it("is a session-only procedure: any signed-in user, no API token, nobody signed out", async () => {
      const as = (actor: Actor | null, tokenScopes?: ("metrics:read" | "vms:read")[]) =>
        createCaller({ db: t.db, actor, sourceIp: null, userAgent: null, tokenScopes });
      const s = await as(alice).metrics.status();
      expect(s.vms.map((v) => v.name)).toEqual(["db", "quiet", "web"]);
      await expect(as(null).metrics.status()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
      await expect(as(alice, ["metrics:read", "vms:read"]).metrics.status()).rejects.toMatchObject({ code: "FORBIDDEN" });
    });
  });
}

describe("hostStateOf", () => {
  it("is the worst open alert on the host, its filesystems and interfaces; VM alerts do not count", () => {
    expect(hostStateOf([])).toBe("ok");
    expect(hostStateOf([{ source: "vm:x", severity: "CRITICAL" }])).toBe("ok");
    expect(hostStateOf([{ source: "net:eth0", severity: "WARNING" }])).toBe("warning");
    expect(
      hostStateOf([
        { source: "host", severity: "WARNING" },
        { source: "fs:/var", severity: "CRITICAL" },
      ]),
    ).toBe("critical");
  });
});
