// The sampler keeps going: a throwing collector costs its own readings, a
// locked SQLite database costs the ticks it blocks, ticks never overlap, and
// stop() waits for the tick in flight.
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { sqlitePath } from "~/server/db/client";
import { collectNow, createSampler, runningSampler, startSampler } from "~/server/metrics/sampler";
import type { Collector } from "~/server/metrics/collectors/types";
import { createVmCollector } from "~/server/metrics/collectors/vms";

let t: TestDb;
beforeEach(async () => (t = await createTestDb()));
afterEach(async () => {
  await runningSampler()?.stop();
  await t.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const steady = (source: string, cpuPct = 5): Collector => ({ name: source, collect: async () => [{ source, values: { cpuPct } }] });
const quiet = () => {
  const logged: string[] = [];
  return { logged, log: (m: string) => void logged.push(m) };
};

describe("sampler", () => {
  it("survives a throwing collector: its error is counted and logged once, the others are stored", async () => {
    const { logged, log } = quiet();
    let calls = 0;
    const broken: Collector = {
      name: "broken",
      collect: async () => {
        calls++;
        throw Object.assign(new Error("EACCES: /proc/broken"), { code: "EACCES" });
      },
    };
    const sampler = createSampler({ db: t.db, collectors: [broken, steady("host")], alerts: null, retentionIntervalMs: null, log });
    for (let i = 0; i < 3; i++) {
      const r = await sampler.tick();
      expect(r.errors).toEqual({ broken: "EACCES: /proc/broken" });
      expect(r.written).toBe(1);
      await sleep(2);
    }
    expect(calls).toBe(3);
    expect(sampler.stats().errorsByCollector).toEqual({ broken: 3 });
    expect(logged).toHaveLength(1);
    expect(await t.db.metricSample.count({ where: { source: "host" } })).toBe(3);
  });

  it("survives a locked database and writes again once the lock is gone", async () => {
    const { logged, log } = quiet();
    const sampler = createSampler({ db: t.db, collectors: [steady("host")], alerts: null, retentionIntervalMs: null, intervalMs: 250, log });
    await sampler.tick(); // opens the connection
    const other = new Database(sqlitePath(t.url));
    other.exec("BEGIN EXCLUSIVE");
    sampler.start(); // its first tick waits out the client's 5 s busy timeout, then fails
    await sleep(1000);
    other.exec("COMMIT");
    other.close();
    await sleep(1200);
    await sampler.stop();
    const stats = sampler.stats();
    expect(stats.errorsByCollector.database).toBeGreaterThanOrEqual(1);
    // better-sqlite3 waits for the lock synchronously, so the timer cannot even
    // fire meanwhile: nothing piles up behind the blocked tick.
    expect(logged.filter((m) => m.startsWith("database"))).toHaveLength(1);
    const rows = await t.db.metricSample.count();
    expect(rows).toBeGreaterThanOrEqual(3); // the first tick plus ticks after the lock
    expect(rows).toBeLessThan(stats.ticks + 1);
  }, 40_000);

  it("never overlaps ticks: a slow tick makes the due ones skip, and stop() finishes it", async () => {
    let running = 0;
    let maxRunning = 0;
    let finished = 0;
    const slow: Collector = {
      name: "slow",
      collect: async () => {
        maxRunning = Math.max(maxRunning, ++running);
        await sleep(1000);
        running--;
        finished++;
        return [{ source: "host", values: { cpuPct: 1 } }];
      },
    };
    const sampler = startSampler({ db: t.db, collectors: [slow], alerts: null, retentionIntervalMs: null, intervalMs: 100 });
    expect(startSampler({ db: t.db, collectors: [], intervalMs: 100 })).toBe(sampler); // one per process
    await sleep(1300);
    await sampler.stop();
    expect(runningSampler()).toBeNull();
    expect(maxRunning).toBe(1);
    expect(sampler.stats().skippedTicks).toBeGreaterThanOrEqual(3);
    // The tick in flight at stop() completed and was written.
    expect(finished).toBe(sampler.stats().ticks);
    expect(await t.db.metricSample.count()).toBe(finished);
  });

  it("stores every running VM from the injected VM source in the same tick; an unavailable VM leaves a gap", async () => {
    const vmSourceStub = {
      read: async () => [
        {
          vmId: "a1",
          status: "ok" as const,
          cpuPct: 12,
          memUsedBytes: 300,
          memAvailableBytes: 700,
          rssBytes: 900,
          diskReadBps: 1,
          diskWriteBps: 2,
          netRxBps: 3,
          netTxBps: 4,
        },
        { vmId: "b2", status: "unavailable" as const, reason: "domain not running" },
      ],
    };
    const sampler = createSampler({ db: t.db, collectors: [steady("host"), createVmCollector(vmSourceStub)], alerts: null, retentionIntervalMs: null });
    const r = await sampler.tick();
    const rows = await t.db.metricSample.findMany({ orderBy: { source: "asc" } });
    expect(rows.map((x) => [x.source, Number(x.ts)])).toEqual([
      ["host", r.ts],
      ["vm:a1", r.ts],
    ]);
    expect(rows[1]).toMatchObject({ cpuPct: 12, memPct: 30, rssBytes: 900, netTxBps: 4 });
  });

  it("collectNow in the process that runs the sampler runs one real tick on it (elsewhere it asks: leases.test.ts, multi-process.test.ts)", async () => {
    startSampler({ db: t.db, alerts: null, retentionIntervalMs: null, intervalMs: 3_600_000 });
    await sleep(300); // the first tick (at start) has a measurable interval behind the next one
    const before = await t.db.metricSample.count({ where: { source: "host" } });
    const r = await collectNow(t.db);
    expect(r.errors).toEqual({});
    expect(r.readings.find((x) => x.source === "host")!.values.memTotalBytes).toBeGreaterThan(0);
    expect(await t.db.metricSample.count({ where: { source: "host" } })).toBe(before + 1);
  });
});
