// npm run bench:history
// Seeds 30 days for the host and 20 VMs through the real write path
// (writeTick + rollUpClosedBuckets per tick, on a simulated clock), then times
// the history query of every range (p50/p95 over 50 runs) and the same
// question answered from raw rows only, and prints the database bytes per day
// of steady state for that fleet. The last line is JSON for machines.
//
// Compressed time: the last 24 h are seeded at the real 5 s interval (what the
// raw tier holds in production); older days at BENCH_OLD_INTERVAL_S (60 s) to
// keep the seeding within minutes, and without an fsync per simulated tick. The raw-only comparison for 7 and 30 days
// therefore reads 12× fewer raw rows than a 5 s history would hold: the
// printed speedups are lower bounds.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { createDatabaseClient } from "../src/server/db/client";
import { migrate } from "../src/server/db/migrate";
import { hostHistory, planQuery, RANGE_KEYS, readHistory, resolveMetrics, resolveWindow } from "../src/server/metrics/history";
import { percentile } from "../src/server/metrics/sampler";
import { rollUpClosedBuckets, writeTick } from "../src/server/metrics/store";
import type { Reading } from "../src/server/metrics/collectors/types";
import type { Actor } from "../src/server/permissions";

const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const VMS = Number(process.env.BENCH_VMS ?? 20);
const OLD_INTERVAL_MS = Number(process.env.BENCH_OLD_INTERVAL_S ?? 60) * 1000;
const LIVE_INTERVAL_MS = 5000;
const RUNS = 50;
const METRICS = ["cpuPct", "memPct", "fsPct", "swapPct", "load1"]; // the first chart group of /monitor/history

function walk(seed: number) {
  let v = seed;
  return (lo: number, hi: number) => {
    v += (Math.sin(v * 12.9898) * 43758.5453) % 1 * (hi - lo) * 0.05;
    v = Math.min(hi, Math.max(lo, v));
    return Math.round(v * 100) / 100;
  };
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-bench-history-"));
  const file = path.join(dir, "bench.db");
  const url = `file:${file}`;
  await migrate(url, { log: () => {} });
  const db = createDatabaseClient(url);
  // Compressed time: no fsync per simulated tick (the real sampler commits once
  // every 5 s, where the fsync is noise). Everything else is the real path.
  await db.$queryRawUnsafe("PRAGMA synchronous = OFF");
  const admin: Actor = { id: "bench", email: "bench@example.com", role: "ADMIN" };

  const end = Math.floor(Date.now() / 60_000) * 60_000;
  const start = end - DAYS * 86_400_000;
  const liveFrom = end - 86_400_000;
  const hostCpu = walk(40);
  const vmCpu = Array.from({ length: VMS }, (_, i) => walk(10 + i));
  const reading = (ts: number): Reading[] => [
    {
      source: "host",
      values: { cpuPct: hostCpu(0, 100), memPct: 40 + 20 * Math.sin(ts / 3.6e6), fsPct: 50 + (ts - start) / 1e10, swapPct: 0, load1: 1.5, cpuCount: 8, memTotalBytes: 64e9, memUsedBytes: 30e9, memAvailableBytes: 34e9, netRxBps: 1e6, netTxBps: 2e5, diskReadBps: 3e5, diskWriteBps: 9e5, uptimeS: (ts - start) / 1000 },
    },
    ...vmCpu.map((cpu, i) => ({ source: `vm:bench${String(i).padStart(4, "0")}`, values: { cpuPct: cpu(0, 100), memUsedBytes: 1e9, memAvailableBytes: 1e9, memPct: 50, rssBytes: 2.1e9, diskReadBps: 1e4, diskWriteBps: 5e4, netRxBps: 2e4, netTxBps: 1e4 } })),
  ];

  console.log(`seeding ${DAYS} days for the host and ${VMS} VMs (older days every ${OLD_INTERVAL_MS / 1000} s, last 24 h every 5 s)…`);
  const seedStarted = performance.now();
  let ticks = 0;
  for (let ts = start; ts <= end; ts += ts < liveFrom ? OLD_INTERVAL_MS : LIVE_INTERVAL_MS) {
    await writeTick(db, ts, reading(ts));
    await rollUpClosedBuckets(db, ts);
    ticks++;
  }
  const seedS = (performance.now() - seedStarted) / 1000;
  console.log(`  ${ticks} ticks in ${seedS.toFixed(0)} s (${((seedS * 1000) / ticks).toFixed(2)} ms per tick of ${VMS + 1} rows)`);

  const time = async (fn: () => Promise<unknown>) => {
    for (let i = 0; i < 3; i++) await fn(); // warm the page cache and statement cache
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await fn();
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    return { p50: percentile(ms, 50)!, p95: percentile(ms, 95)! };
  };
  const r1 = (n: number) => Math.round(n * 100) / 100;

  console.log(`\nhistory of ${METRICS.length} host metrics, ${RUNS} runs per range (ms):`);
  console.log("  range  tier    points   p50     p95   | raw only p50    p95   | speedup (p50)");
  const p95MsByRange: Record<string, number> = {};
  const speedup: Record<string, number> = {};
  for (const range of RANGE_KEYS) {
    const input = { metrics: METRICS, range };
    const h = await hostHistory(db, admin, input, end);
    const planned = await time(() => hostHistory(db, admin, input, end));
    const w = resolveWindow({ range }, end);
    const raw = await time(() => readHistory(db, "host", resolveMetrics(METRICS, "host"), w, planQuery(w, end, LIVE_INTERVAL_MS), { rawOnly: true }));
    p95MsByRange[range] = r1(planned.p95);
    speedup[range] = r1(raw.p50 / planned.p50);
    console.log(
      `  ${range.padEnd(5)}  ${h.tier.padEnd(6)}  ${String(h.t.length).padStart(6)}  ${planned.p50.toFixed(2).padStart(6)}  ${planned.p95.toFixed(2).padStart(6)}  | ${raw.p50.toFixed(2).padStart(12)}  ${raw.p95.toFixed(2).padStart(6)}  | ${speedup[range]}×`,
    );
  }
  // One VM's 30 days, to show per-source cost does not grow with the fleet.
  const vm30 = await time(() => readHistory(db, "vm:bench0000", resolveMetrics(["cpuPct", "memPct"], "vm"), resolveWindow({ range: "30d" }, end), planQuery(resolveWindow({ range: "30d" }, end), end, LIVE_INTERVAL_MS)));
  console.log(`  one VM, 30d, 2 metrics: p50 ${vm30.p50.toFixed(2)} ms, p95 ${vm30.p95.toFixed(2)} ms`);

  // Steady state: bytes each tier's rows take (table + indexes, from dbstat).
  await db.$disconnect();
  const sqlite = new Database(file, { readonly: true });
  const bytesOf = (table: string) =>
    (sqlite.prepare(`SELECT SUM(pgsize) AS b FROM dbstat WHERE name = ? OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = ? AND type = 'index')`).get(table, table) as { b: number }).b;
  const rowsOf = (table: string) => (sqlite.prepare(`SELECT COUNT(*) AS n FROM "${table}"`).get() as { n: number }).n;
  const perRow = Object.fromEntries(["MetricSample", "MetricMinute", "MetricHour"].map((t) => [t, bytesOf(t) / rowsOf(t)]));
  sqlite.close();
  const sources = VMS + 1;
  const perDay = {
    raw: (86_400_000 / LIVE_INTERVAL_MS) * sources * perRow.MetricSample!,
    minute: 1440 * sources * perRow.MetricMinute!,
    hour: 24 * sources * perRow.MetricHour!,
  };
  const bytesPerDay = Math.round(perDay.raw + perDay.minute + perDay.hour);
  const steadyTotal = perDay.raw * 1 + perDay.minute * 30 + perDay.hour * 365;
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  console.log(`\nstorage for ${sources} sources at 5 s:`);
  console.log(`  bytes per row (table + indexes): raw ${perRow.MetricSample!.toFixed(0)}, minute ${perRow.MetricMinute!.toFixed(0)}, hour ${perRow.MetricHour!.toFixed(0)}`);
  console.log(`  written per day: raw ${mb(perDay.raw)}, minute ${mb(perDay.minute)}, hour ${mb(perDay.hour)} = ${mb(bytesPerDay)}`);
  console.log(`  steady-state database (24 h raw + 30 d minute + 365 d hour): ${mb(steadyTotal)}`);
  rmSync(dir, { recursive: true, force: true });

  const worstP95Ms = Math.max(...Object.values(p95MsByRange));
  console.log(JSON.stringify({ worstP95Ms, p95MsByRange, speedup7d: speedup["7d"], speedup30d: speedup["30d"], bytesPerDay }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
