// Singleton leases in the database (src/server/leases.ts), on SQLite and on
// the PostgreSQL test server: one holder at a time even when many clients race,
// takeover only after expiry, a renewal that notices a takeover; the lease
// runner starts a service only while it holds the lease. Then the parts of the
// sampler that must hold across processes: why a VM has no readings lives in
// the database, "collect now" never samples where the sampler does not run,
// and an evaluator never opens an alert another process opened meanwhile.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabaseClient, type Db } from "~/server/db/client";
import { liveLeases, releaseLease, renewLease, runWhileLeased, tryAcquireLease } from "~/server/leases";
import { AlertEvaluator } from "~/server/metrics/alerts/evaluator";
import { createVmCollector, type VmReading } from "~/server/metrics/collectors/vms";
import { readingGap, trackReadingGaps } from "~/server/metrics/reading-gaps";
import { requestCollect } from "~/server/metrics/collect-requests";
import { collectNow, createSampler, runningSampler, samplerLeaseName } from "~/server/metrics/sampler";
import { startMetricsServices } from "~/server/metrics/service";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`service leases (${title})`, () => {
    let t: TestDb;
    beforeEach(async () => (t = await createTestDb({ provider })));
    afterEach(async () => t.close());

    it("one holder at a time: another takes it only after expiry, and the old holder's renewal then fails", async () => {
      const t0 = 1_000_000;
      expect(await tryAcquireLease(t.db, "svc", "a", 10_000, t0)).toBe(true);
      expect(await tryAcquireLease(t.db, "svc", "b", 10_000, t0 + 5_000)).toBe(false);
      expect(await tryAcquireLease(t.db, "svc", "a", 10_000, t0 + 5_000)).toBe(true); // ours already
      expect(await renewLease(t.db, "svc", "a", 10_000, t0 + 9_000, { ticks: 3 })).toBe(true); // now until t0 + 19 s
      expect(await tryAcquireLease(t.db, "svc", "b", 10_000, t0 + 15_000)).toBe(false);
      expect(await tryAcquireLease(t.db, "svc", "b", 10_000, t0 + 19_000)).toBe(true); // expired
      expect(await renewLease(t.db, "svc", "a", 10_000, t0 + 19_500)).toBe(false);
      const row = await t.db.serviceLease.findUniqueOrThrow({ where: { name: "svc" } });
      expect(row).toMatchObject({ holder: "b", status: null }); // a's status is not b's
      expect(row.expiresAt.getTime()).toBe(t0 + 29_000);
      await releaseLease(t.db, "svc", "a"); // not a's: nothing happens
      expect(await t.db.serviceLease.count()).toBe(1);
      await releaseLease(t.db, "svc", "b");
      expect(await tryAcquireLease(t.db, "svc", "a", 10_000, t0 + 20_000)).toBe(true);
    });

    it("many clients racing for a free or an expired lease: exactly one wins each time", async () => {
      const clients: Db[] = Array.from({ length: provider === "postgresql" ? 8 : 4 }, () => createDatabaseClient(t.url));
      try {
        for (const at of [5_000_000, 5_100_000]) {
          // The second round races for the lease the first round's winner let expire.
          const won = await Promise.all(clients.flatMap((db, i) => [0, 1].map((j) => tryAcquireLease(db, "race", `h${i}.${j}.${at}`, 10_000, at))));
          expect(won.filter(Boolean)).toHaveLength(1);
        }
      } finally {
        await Promise.all(clients.map((c) => c.$disconnect()));
      }
    });

    it("the runner starts the service only while it holds the lease, publishes its status, and hands over on stop", async () => {
      const running: string[] = [];
      const runner = (label: string) =>
        runWhileLeased({
          db: t.db,
          name: "metrics-sampler:test-host",
          ttlMs: 2_000,
          renewMs: 250,
          log: () => {},
          start: (lease) => {
            running.push(label);
            return { status: () => ({ label, valid: lease.valid() }), stop: async () => void running.splice(running.indexOf(label), 1) };
          },
        });
      const a = runner("a");
      await until(() => running.length === 1, 5_000, "a to start");
      const b = runner("b");
      await sleep(800); // b retries meanwhile
      expect(running).toEqual(["a"]);
      expect(a.holding()).toBe(true);
      expect(b.holding()).toBe(false);
      const [lease] = await liveLeases(t.db, "metrics-sampler:");
      expect(lease).toMatchObject({ holder: a.holder, status: { label: "a", valid: true } });
      await a.stop(); // releases: b need not wait for the expiry
      await until(() => running.join() === "b", 2_000, "b to take over");
      expect((await liveLeases(t.db, "metrics-sampler:"))[0]?.holder).toBe(b.holder);
      await b.stop();
      expect(running).toEqual([]);
      expect(await t.db.serviceLease.count()).toBe(0);
    });

    it("records why a VM has no readings in the database, changes it only when it changes, and clears it", async () => {
      let next: VmReading[] = [];
      const sampler = createSampler({
        db: t.db,
        collectors: [createVmCollector(trackReadingGaps(t.db, { read: async () => next }))],
        alerts: null,
        retentionIntervalMs: null,
      });
      const ok = (vmId: string): VmReading => ({
        vmId,
        status: "ok",
        cpuPct: 1,
        memUsedBytes: 1,
        memAvailableBytes: 1,
        rssBytes: 1,
        diskReadBps: 0,
        diskWriteBps: 0,
        netRxBps: 0,
        netTxBps: 0,
      });
      next = [ok("vm1"), { vmId: "vm2", status: "unavailable", reason: "no libvirt domain vm2_default" }];
      const first = await sampler.tick();
      expect(await readingGap(t.db, "vm2")).toEqual({ reason: "no libvirt domain vm2_default", at: first.ts });
      expect(await readingGap(t.db, "vm1")).toBeNull();
      await sampler.tick(); // same reason: the row keeps its first time
      expect((await readingGap(t.db, "vm2"))?.at).toBe(first.ts);
      // Another process's sampler (a takeover) starts from the table.
      const other = createSampler({
        db: t.db,
        collectors: [createVmCollector(trackReadingGaps(t.db, { read: async () => next }))],
        alerts: null,
        retentionIntervalMs: null,
      });
      next = [ok("vm1"), ok("vm2"), { vmId: "vm3", status: "unavailable", reason: "domain vm3_default is shut off" }];
      await other.tick();
      expect(await readingGap(t.db, "vm2")).toBeNull();
      expect((await readingGap(t.db, "vm3"))?.reason).toBe("domain vm3_default is shut off");
      next = [ok("vm1")]; // vm3 no longer running
      await other.tick();
      expect(await t.db.vmReadingGap.count()).toBe(0);
    });

    it("collect now, where no process samples, asks nobody and samples nothing itself", async () => {
      await expect(collectNow(t.db)).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(/No process is sampling/) });
      expect(await t.db.metricSample.count()).toBe(0);
      // A lease that expired is no sampler either.
      await tryAcquireLease(t.db, "metrics-sampler:gone", "gone:1:x", 1_000, Date.now() - 5_000);
      await expect(collectNow(t.db)).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    });

    it("the sampling process holds this host's lease, and a collect request makes it tick at once on PostgreSQL (at its next tick on SQLite)", async () => {
      const service = startMetricsServices(t.db, null, { databaseUrl: t.url, intervalMs: 3_600_000, ttlMs: 4_000, log: () => {} });
      try {
        await until(async () => (await t.db.serviceLease.findUnique({ where: { name: samplerLeaseName() } })) !== null, 5_000, "the lease");
        await until(async () => (await t.db.metricSample.count({ where: { source: "host" } })) === 1, 5_000, "the first tick (at start)");
        expect(runningSampler()).not.toBeNull();
        await sleep(500); // lets the listener connect
        await requestCollect(t.db); // what another process's "collect now" sends
        if (provider === "postgresql") {
          await until(async () => (await t.db.metricSample.count({ where: { source: "host" } })) === 2, 3_000, "the requested tick");
          // Its outcome is published on the lease at once, for the asking process.
          await until(
            async () => {
              const row = await t.db.serviceLease.findUnique({ where: { name: samplerLeaseName() } });
              return ((row?.status as { ticks?: number } | null)?.ticks ?? 0) >= 2;
            },
            3_000,
            "the published status",
          );
        } else {
          await sleep(1_000);
          expect(await t.db.metricSample.count({ where: { source: "host" } })).toBe(1); // SQLite: no channel, the next scheduled tick serves it
        }
      } finally {
        await service.stop();
      }
      expect(runningSampler()).toBeNull();
      expect(await t.db.serviceLease.count()).toBe(0); // released on stop
    });

    it("an evaluator adopts an alert another process opened meanwhile instead of opening it again", async () => {
      const rule = await t.db.alertRule.create({
        data: { name: "always", metric: "memTotalBytes", comparison: "gte", threshold: 1, clearThreshold: 0, durationS: 0, scope: "host" },
      });
      const readings = [{ source: "host", values: { memTotalBytes: 8e9 } }];
      const a = new AlertEvaluator({ deliver: async () => {} });
      const b = new AlertEvaluator({ deliver: async () => {} });
      expect(await b.evaluate(t.db, [], 1_000)).toEqual({ opened: [], resolved: [] }); // b has loaded the (empty) open alerts
      expect((await a.evaluate(t.db, readings, 2_000)).opened).toHaveLength(1);
      expect((await b.evaluate(t.db, readings, 3_000)).opened).toEqual([]);
      expect(await t.db.alertInstance.count({ where: { ruleId: rule.id } })).toBe(1);
      expect(await t.db.event.count({ where: { action: "alert.open" } })).toBe(1);
      // b now tracks it: a value back below the clear level resolves it once.
      expect((await b.evaluate(t.db, [{ source: "host", values: { memTotalBytes: 0 } }], 4_000)).resolved).toHaveLength(1);
    });
  });
}
