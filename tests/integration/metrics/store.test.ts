// Rollups against the raw truth, retention at its exact boundaries, and the
// history reader merging closed rollups with the still-open tail.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, postgresAvailable, type TestDb } from "../../support/db";
import { METRIC_NAMES, type MetricName } from "~/server/metrics/catalog";
import { applyRetention, rollUpClosedBuckets, rollupCursor, writeTick } from "~/server/metrics/store";
import { planQuery, readHistory } from "~/server/metrics/history";
import { rng } from "../../support/prng";

// The rollup and history SQL is hand-written for both providers: run on both.
const providers = postgresAvailable() ? (["sqlite", "postgresql"] as const) : (["sqlite"] as const);

describe.each(providers)("metric store on %s", (provider) => {
  let t: TestDb;
  beforeEach(async () => (t = await createTestDb({ provider })));
  afterEach(async () => t.close());

  type Row = { source: string; ts: number; values: Partial<Record<MetricName, number | null>> };

  function stats(values: number[]) {
    return { avg: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values), n: values.length };
  }

  describe("rollups", () => {
    it("equal avg/min/max/count computed from the raw rows, for random series with gaps and nulls", async () => {
      const rand = rng(42);
      const start = Date.UTC(2026, 10, 1, 9, 58, 17); // not aligned on purpose
      const metrics: MetricName[] = ["cpuPct", "memPct", "netRxBps"];
      const written: Row[] = [];
      let ts = start;
      const end = start + 1.6 * 3_600_000;
      while (ts < end) {
        // A gap of several minutes now and then: the bucket simply does not exist.
        ts += rand() < 0.01 ? 7 * 60_000 : 4000 + Math.floor(rand() * 2000);
        const readings = ["host", "vm:a"].map((source) => ({
          source,
          values: Object.fromEntries(metrics.map((m) => [m, rand() < 0.1 ? null : Math.round(rand() * 1e6) / 100])),
        }));
        await writeTick(t.db, ts, readings);
        await rollUpClosedBuckets(t.db, ts);
        for (const r of readings) written.push({ source: r.source, ts, values: r.values });
      }

      const closedMinute = (await rollupCursor(t.db, "minute"))!;
      const closedHour = (await rollupCursor(t.db, "hour"))!;
      expect(closedMinute).toBe(Math.floor(ts / 60_000) * 60_000);
      expect(closedHour).toBe(Math.floor(ts / 3_600_000) * 3_600_000);

      for (const [tier, size, closed] of [
        ["minute", 60_000, closedMinute],
        ["hour", 3_600_000, closedHour],
      ] as const) {
        const expected = new Map<string, Row[]>();
        for (const r of written) {
          if (r.ts >= closed) continue;
          const key = `${r.source}|${Math.floor(r.ts / size) * size}`;
          (expected.get(key) ?? expected.set(key, []).get(key)!).push(r);
        }
        const rows = tier === "minute" ? await t.db.metricMinute.findMany() : await t.db.metricHour.findMany();
        expect(rows.length).toBe(expected.size);
        for (const row of rows) {
          const raw = expected.get(`${row.source}|${Number(row.ts)}`);
          expect(raw, `${tier} bucket ${row.source} ${row.ts}`).toBeDefined();
          expect(row.samples).toBe(raw!.length);
          for (const m of metrics) {
            const vals = raw!.map((r) => r.values[m]).filter((v): v is number => typeof v === "number");
            const want = stats(vals);
            const r = row as unknown as Record<string, number | null>;
            expect(r[`${m}N`]).toBe(want.n);
            if (want.n === 0) {
              expect([r[`${m}Avg`], r[`${m}Min`], r[`${m}Max`]]).toEqual([null, null, null]);
              continue;
            }
            expect(r[`${m}Avg`]).toBeCloseTo(want.avg, 6);
            expect(r[`${m}Min`]).toBe(want.min);
            expect(r[`${m}Max`]).toBe(want.max);
          }
          // Metrics nobody measured stay empty rather than becoming zeros.
          const r = row as unknown as Record<string, number | null>;
          expect(r.swapPctAvg).toBeNull();
          expect(r.swapPctN).toBe(0);
        }
      }

      // History from the hour tier (plus the open tail from minute and raw rows)
      // answers exactly what the raw rows alone answer.
      const w = { from: start, to: ts + 1 };
      const plan = { tier: "hour" as const, stepMs: 3_600_000 };
      const fromTiers = await readHistory(t.db, "host", metrics, w, plan);
      const fromRaw = await readHistory(t.db, "host", metrics, w, plan, { rawOnly: true });
      expect(fromTiers.t).toEqual(fromRaw.t);
      for (const m of metrics) {
        expect(fromTiers.series[m]!.min).toEqual(fromRaw.series[m]!.min);
        expect(fromTiers.series[m]!.max).toEqual(fromRaw.series[m]!.max);
        fromTiers.series[m]!.avg.forEach((v, i) => {
          const want = fromRaw.series[m]!.avg[i]!;
          if (want === null) expect(v).toBeNull();
          else expect(v).toBeCloseTo(want, 6);
        });
        expect(fromTiers.series[m]!.avg.filter((v) => v === null).length).toBeLessThan(fromTiers.t.length);
      }
    });

    it("rolls up what closed while the sampler was down, and nothing twice", async () => {
      const base = Date.UTC(2026, 10, 2, 10, 0, 0);
      await writeTick(t.db, base + 1000, [{ source: "host", values: { cpuPct: 10 } }]);
      await writeTick(t.db, base + 61_000, [{ source: "host", values: { cpuPct: 30 } }]);
      // Down for two hours, then the first tick rolls up both minutes and the hour.
      const back = base + 2 * 3_600_000 + 5000;
      await writeTick(t.db, back, [{ source: "host", values: { cpuPct: 50 } }]);
      expect(await rollUpClosedBuckets(t.db, back)).toEqual({ minute: 2, hour: 1 });
      expect(await rollUpClosedBuckets(t.db, back + 5000)).toEqual({ minute: 0, hour: 0 });
      const hour = await t.db.metricHour.findFirstOrThrow();
      expect([hour.cpuPctAvg, hour.cpuPctMin, hour.cpuPctMax, hour.cpuPctN, hour.samples]).toEqual([20, 10, 30, 2, 2]);
      // The gap stays a gap: no minute rows were invented for the two hours.
      expect(await t.db.metricMinute.count()).toBe(2);
    });
  });

  describe("retention", () => {
    it("deletes exactly the rows older than each tier's retention", async () => {
      const now = Date.UTC(2026, 10, 20, 12, 0, 0);
      const policy = { rawMs: 24 * 3_600_000, minuteMs: 30 * 86_400_000, hourMs: 365 * 86_400_000 };
      const around = (cutoff: number) => [cutoff - 60_000, cutoff - 1, cutoff, cutoff + 1, cutoff + 60_000];
      const rawTs = around(now - policy.rawMs);
      const minuteTs = around(now - policy.minuteMs);
      const hourTs = around(now - policy.hourMs);
      for (const ts of rawTs)
        await writeTick(t.db, ts, [
          { source: "host", values: { cpuPct: 1 } },
          { source: "vm:x", values: { cpuPct: 2 } },
        ]);
      for (const ts of minuteTs) await t.db.metricMinute.create({ data: { source: "host", ts: BigInt(ts), samples: 1 } });
      for (const ts of hourTs) await t.db.metricHour.create({ data: { source: "host", ts: BigInt(ts), samples: 1 } });
      for (const tier of ["minute", "hour"]) await t.db.metricRollupCursor.create({ data: { tier, closedThrough: BigInt(now) } });

      const result = await applyRetention(t.db, now, policy);
      expect(result.deleted).toEqual({ raw: 4, minute: 2, hour: 2 });
      const left = async (rows: Promise<{ ts: bigint }[]>) => [...new Set((await rows).map((r) => Number(r.ts)))].sort((a, b) => a - b);
      expect(await left(t.db.metricSample.findMany())).toEqual(rawTs.slice(2));
      expect(await left(t.db.metricMinute.findMany())).toEqual(minuteTs.slice(2));
      expect(await left(t.db.metricHour.findMany())).toEqual(hourTs.slice(2));
    });

    it("keeps expired raw rows that are not rolled up yet", async () => {
      const now = Date.UTC(2026, 10, 20, 12, 0, 0);
      await writeTick(t.db, now - 48 * 3_600_000, [{ source: "host", values: { cpuPct: 1 } }]);
      const result = await applyRetention(t.db, now, { rawMs: 24 * 3_600_000, minuteMs: 30 * 86_400_000, hourMs: 365 * 86_400_000 });
      expect(result.deleted.raw).toBe(0);
      expect(await t.db.metricSample.count()).toBe(1);
    });
  });
});

describe("query plan", () => {
  const policy = { rawMs: 24 * 3_600_000, minuteMs: 30 * 86_400_000, hourMs: 365 * 86_400_000 };
  const now = Date.UTC(2026, 10, 20, 12, 0, 0);
  it.each([
    ["1h", 3_600_000, "raw"],
    ["6h", 6 * 3_600_000, "minute"],
    ["24h", 86_400_000, "minute"],
    ["7d", 7 * 86_400_000, "hour"],
    ["30d", 30 * 86_400_000, "hour"],
    ["365d", 365 * 86_400_000, "hour"],
  ])("%s reads the %s tier with at most 500 points", (_name, span, tier) => {
    const plan = planQuery({ from: now - span, to: now }, now, 5000, policy);
    expect(plan.tier).toBe(tier);
    expect(span / plan.stepMs).toBeLessThanOrEqual(500);
    expect(span / plan.stepMs).toBeGreaterThanOrEqual(100);
  });
  it("reads an old short window from the finest tier still holding it", () => {
    const plan = planQuery({ from: now - 3 * 86_400_000, to: now - 3 * 86_400_000 + 3_600_000 }, now, 5000, policy);
    expect(plan).toEqual({ tier: "minute", stepMs: 60_000 });
  });
  it("has all metric columns in the catalog", () => {
    expect(METRIC_NAMES.length).toBeGreaterThan(20);
  });
});
