// npm run bench:history
// Seeds 30 days for the host and 20 VMs, builds the minute and hour tiers with
// the real rollup code, then times the history query of every range THROUGH
// THE tRPC PROCEDURE (metrics.hostHistory via the app router's createCaller,
// as an admin; p50/p95 over 50 runs) and the same question answered from raw
// rows only, in the same run. It also prints the database bytes per day of
// steady state for that fleet. The last line is JSON.
//
// What "through the real write path, compressed time" means here:
// - Raw rows: each simulated tick is the row set writeTick() writes (one row
//   per source, the catalog's columns, one multi-row INSERT per tick). The
//   INSERT is prepared once and run on better-sqlite3 directly, one
//   transaction per simulated day: writeTick() through Prisma costs ~3 ms per
//   tick here, which for 518,400 ticks would be ~30 minutes of Prisma overhead
//   and nothing else. The ticks after the seed (catching up to the wall clock,
//   which the procedure reads as "now") go through writeTick() itself.
// - Density: the last 24 h (what the raw tier holds in production) are at the
//   real 5 s for all 21 sources. Older than that, the host is still at 5 s for
//   all 30 days (518,400 rows: the raw-only answer aggregates exactly as many
//   rows as it would in production), the VMs at BENCH_OLD_VM_INTERVAL_S (60 s).
//   Full density for every VM would be 10.9 M rows and ~7 minutes of CPU for
//   seeding and rollups alone, too slow for 2 shared cores. What the thinning
//   changes: rollup tables have the same rows either way (one per source per
//   bucket: only N differs), so the procedure's cost is unchanged; the host's
//   raw rows share their pages with 12x fewer VM rows than in production, so
//   the raw-only query reads fewer pages than it would, and the speedups
//   printed are lower bounds.
// - Rollups: rollUpClosedBuckets(), the sampler's own function, once per
//   simulated hour after the raw rows (and per tick during the catch-up). It
//   is incremental (cursor to the last closed bucket) and reads raw rows by
//   time, so this builds exactly the rows that calling it every tick would.
// - Retention: raw rows are kept for all 30 days until the raw-only
//   comparison has run (it needs them; in production they would be gone after
//   METRICS_RAW_RETENTION_H). Then applyRetention() deletes them and the
//   procedure is timed again on the steady-state database (24 h raw, 30 d of
//   minutes, hours); the p95 reported is the worse of the two.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { METRIC_NAMES } from "../src/server/metrics/catalog";
import type { Reading } from "../src/server/metrics/collectors/types";
import { percentile } from "../src/server/metrics/sampler";
import { HOST_SOURCE, vmSource } from "../src/server/metrics/sources";
import { sourceHistory, RANGE_KEYS, type RangeKey } from "../src/server/metrics/history";
import { applyRetention, rollUpClosedBuckets, ROLLUP_MS, TIER_TABLE, writeTick } from "../src/server/metrics/store";
import type { Actor } from "../src/server/permissions";

const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const VMS = Number(process.env.BENCH_VMS ?? 20);
const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const CACHE_MB = 512; // SQLite page cache for the seeding connections (the database reaches ~1.5 GB)
const INTERVAL_MS = 5000; // SAMPLER_INTERVAL_MS default, what the raw tier holds
const OLD_VM_INTERVAL_MS = Number(process.env.BENCH_OLD_VM_INTERVAL_S ?? 60) * 1000;
const RAW_ONLY_RUNS = Number(process.env.BENCH_RAW_ONLY_RUNS ?? 10);
const METRICS = ["cpuPct", "memPct", "fsPct", "swapPct", "load1"]; // the first chart group of /monitor/history

function walk(seed: number) {
  let v = seed;
  return (lo: number, hi: number) => {
    v += ((Math.sin(v * 12.9898) * 43758.5453) % 1) * (hi - lo) * 0.05;
    v = Math.min(hi, Math.max(lo, v));
    return Math.round(v * 100) / 100;
  };
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-bench-history-"));
  const file = path.join(dir, "bench.db");
  const url = `file:${file}`;
  // The app's own client (src/server/db.ts) and settings, on the bench database.
  process.env.DATABASE_URL = url;
  process.env.SAMPLER_INTERVAL_MS = String(INTERVAL_MS);
  const { migrate } = await import("../src/server/db/migrate");
  await migrate(url, { log: () => {} });
  // Imported after DATABASE_URL is set: src/server/db.ts opens its client on load.
  const { db } = await import("../src/server/db");
  const { createCaller } = await import("../src/server/api/root");

  const vmIds = Array.from({ length: VMS }, (_, i) => `bench${String(i).padStart(4, "0")}`);
  const hostCpu = walk(40);
  const vmCpu = vmIds.map((_, i) => walk(10 + i));
  const end = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
  const start = Math.floor((end - DAYS * 86_400_000) / ROLLUP_MS.hour) * ROLLUP_MS.hour;
  const reading = (ts: number): Reading[] => [
    {
      source: HOST_SOURCE,
      values: {
        cpuPct: hostCpu(0, 100),
        memPct: 40 + 20 * Math.sin(ts / 3.6e6),
        fsPct: 50 + (ts - start) / 1e10,
        swapPct: 0,
        load1: 1.5,
        cpuCount: 8,
        memTotalBytes: 64e9,
        memUsedBytes: 30e9,
        memAvailableBytes: 34e9,
        netRxBps: 1e6,
        netTxBps: 2e5,
        diskReadBps: 3e5,
        diskWriteBps: 9e5,
        uptimeS: (ts - start) / 1000,
      },
    },
    ...vmIds.map((id, i) => ({
      source: vmSource(id),
      values: {
        cpuPct: vmCpu[i]!(0, 100),
        memUsedBytes: 1e9,
        memAvailableBytes: 1e9,
        memPct: 50,
        rssBytes: 2.1e9,
        diskReadBps: 1e4,
        diskWriteBps: 5e4,
        netRxBps: 2e4,
        netTxBps: 1e4,
      },
    })),
  ];
  const sources = VMS + 1;
  const rawFrom = end - 86_400_000; // what the raw tier holds in production (METRICS_RAW_RETENTION_H = 24)

  // ---- seed ---------------------------------------------------------------
  console.log(`seeding ${DAYS} days for the host and ${VMS} VMs at ${INTERVAL_MS / 1000} s (${sources} rows per tick)…`);
  const seedStarted = performance.now();
  const elapsedS = () => ((performance.now() - seedStarted) / 1000).toFixed(0);
  const sqlite = new Database(file);
  sqlite.pragma("synchronous = OFF"); // compressed time: no fsync per simulated day
  sqlite.pragma(`cache_size = -${CACHE_MB * 1024}`);
  const columns = ["source", "ts", ...METRIC_NAMES].map((c) => `"${c}"`).join(", ");
  const oneRow = `(${Array(2 + METRIC_NAMES.length)
    .fill("?")
    .join(", ")})`;
  const insertRows = (n: number) => sqlite.prepare(`INSERT INTO "${TIER_TABLE.raw}" (${columns}) VALUES ${Array(n).fill(oneRow).join(", ")}`);
  const insertFleet = insertRows(sources);
  const insertHost = insertRows(1);
  const rowParams = (ts: number, r: Reading) => [
    r.source,
    BigInt(ts),
    ...METRIC_NAMES.map((m) => {
      const v = r.values[m];
      return typeof v === "number" && Number.isFinite(v) ? v : null;
    }),
  ];
  const writeSpan = sqlite.transaction((from: number, to: number) => {
    let rows = 0;
    for (let ts = from; ts < to; ts += INTERVAL_MS) {
      const tick = reading(ts);
      if (ts >= rawFrom || ts % OLD_VM_INTERVAL_MS === 0) {
        insertFleet.run(tick.flatMap((r) => rowParams(ts, r)));
        rows += sources;
      } else {
        insertHost.run(rowParams(ts, tick[0]!));
        rows += 1;
      }
    }
    return rows;
  });
  let rawRows = 0;
  for (let day = start; day < end; day += 86_400_000) rawRows += writeSpan(day, Math.min(day + 86_400_000, end));
  sqlite.close();
  console.log(`  raw: ${rawRows.toLocaleString("en")} rows in ${elapsedS()} s`);
  // The rollups, by the sampler's own function, one call per simulated hour.
  await db.$executeRawUnsafe(`PRAGMA cache_size = -${CACHE_MB * 1024}`);
  await db.$executeRawUnsafe("PRAGMA synchronous = OFF");
  const rollupStarted = performance.now();
  for (let hour = start + ROLLUP_MS.hour; hour <= end; hour += ROLLUP_MS.hour) await rollUpClosedBuckets(db, hour);
  await rollUpClosedBuckets(db, end);
  console.log(`  rollups (rollUpClosedBuckets per simulated hour): ${((performance.now() - rollupStarted) / 1000).toFixed(0)} s`);
  // Catch up to the wall clock tick by tick through the sampler's own path, so
  // the procedure (which reads "now" from the clock) sees an up-to-date series.
  let lastTs = end - INTERVAL_MS;
  let catchUpTicks = 0;
  while (lastTs + INTERVAL_MS <= Date.now()) {
    lastTs += INTERVAL_MS;
    await writeTick(db, lastTs, reading(lastTs));
    await rollUpClosedBuckets(db, lastTs);
    catchUpTicks++;
  }
  console.log(`  then ${catchUpTicks} catch-up ticks through writeTick + rollUpClosedBuckets; seeding took ${elapsedS()} s`);

  // ---- storage ------------------------------------------------------------
  // Bytes each tier's rows take (table + indexes, from dbstat), measured while
  // every tier is densely written, before retention leaves free pages behind.
  const bytesOf = async (table: string) =>
    Number(
      (
        await db.$queryRawUnsafe<{ b: bigint | number }[]>(
          `SELECT SUM(pgsize) AS b FROM dbstat WHERE name = ? OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = ? AND type = 'index')`,
          table,
          table,
        )
      )[0]!.b,
    );
  const rowsOf = async (table: string) => Number((await db.$queryRawUnsafe<{ n: bigint | number }[]>(`SELECT COUNT(*) AS n FROM "${table}"`))[0]!.n);
  const perRow: Record<string, number> = {};
  for (const table of Object.values(TIER_TABLE)) perRow[table] = (await bytesOf(table)) / (await rowsOf(table));

  // ---- timing -------------------------------------------------------------
  const time = async (fn: () => Promise<unknown>, runs = RUNS) => {
    for (let i = 0; i < 3; i++) await fn(); // warm the page cache and statement cache
    const ms: number[] = [];
    // CPU time of this process per query, beside the wall time: on shared
    // cores the wall time's tail is mostly other processes' turn. It counts
    // every thread (V8's GC helpers too), so it can exceed the wall time.
    const cpuMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      ms.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuMs.push((c.user + c.system) / 1000);
    }
    ms.sort((a, b) => a - b);
    cpuMs.sort((a, b) => a - b);
    return { p50: percentile(ms, 50)!, p95: percentile(ms, 95)!, cpuP95: percentile(cpuMs, 95)! };
  };
  const admin: Actor = { id: "bench-admin", email: "admin@example.com", role: "ADMIN" };
  // The context the route handler builds, minus the session lookup: the actor
  // is given, as tests/integration do.
  const caller = createCaller({ db, actor: admin, sourceIp: null, userAgent: null });
  const viaProcedure = (range: RangeKey) => () => caller.metrics.hostHistory({ metrics: METRICS, range });
  const rawOnly = (range: RangeKey) => () => sourceHistory(db, HOST_SOURCE, { metrics: METRICS, range }, Date.now(), { rawOnly: true });

  console.log(`\nhistory of ${METRICS.length} host metrics through the tRPC procedure metrics.hostHistory, ${RUNS} runs per range (ms);`);
  console.log(`raw only = the same window and buckets from the host's raw rows alone (5 s rows for all ${DAYS} days present), ${RAW_ONLY_RUNS} runs:`);
  console.log("  range  tier    points | procedure p50    p95  (CPU p95) | raw only p50     p95 | speedup p50  p95");
  const beforeRetention: Record<string, { p50: number; p95: number }> = {};
  const speedup: Record<string, number> = {};
  for (const range of RANGE_KEYS) {
    const h = await viaProcedure(range)();
    const planned = await time(viaProcedure(range));
    const raw = await time(rawOnly(range), RAW_ONLY_RUNS);
    beforeRetention[range] = planned;
    speedup[range] = r2(raw.p50 / planned.p50);
    console.log(
      `  ${range.padEnd(5)}  ${h.tier.padEnd(6)}  ${String(h.t.length).padStart(5)} | ` +
        `${planned.p50.toFixed(2).padStart(13)}  ${planned.p95.toFixed(2).padStart(6)}  (${planned.cpuP95.toFixed(2).padStart(6)}) | ` +
        `${raw.p50.toFixed(2).padStart(12)}  ${raw.p95.toFixed(2).padStart(7)} | ` +
        `${`${speedup[range]}×`.padStart(10)}  ${r2(raw.p95 / planned.p95)}×`,
    );
  }

  const r0 = performance.now();
  const retention = await applyRetention(db, Date.now());
  console.log(
    `\nretention (applyRetention, defaults): deleted ${retention.deleted.raw.toLocaleString("en")} raw, ` +
      `${retention.deleted.minute} minute, ${retention.deleted.hour} hour rows in ${((performance.now() - r0) / 1000).toFixed(0)} s`,
  );
  console.log(`steady state (${(await rowsOf(TIER_TABLE.raw)).toLocaleString("en")} raw rows left), procedure again (ms):`);
  console.log("  range  tier    points |   p50     p95  (CPU p95)");
  const p95MsByRange: Record<string, number> = {};
  for (const range of RANGE_KEYS) {
    const h = await viaProcedure(range)();
    const steady = await time(viaProcedure(range));
    // The figure reported is the worse of the two database states.
    p95MsByRange[range] = r2(Math.max(steady.p95, beforeRetention[range]!.p95));
    console.log(
      `  ${range.padEnd(5)}  ${h.tier.padEnd(6)}  ${String(h.t.length).padStart(5)} | ` +
        `${steady.p50.toFixed(2).padStart(6)}  ${steady.p95.toFixed(2).padStart(6)}  (${steady.cpuP95.toFixed(2).padStart(6)})`,
    );
  }
  // One VM's 30 days, to show per-source cost does not grow with the fleet.
  const vm30 = await time(() => sourceHistory(db, vmSource(vmIds[0]!), { metrics: ["cpuPct", "memPct"], range: "30d" }, Date.now()));
  console.log(`  one VM, 30d, 2 metrics (domain function): p50 ${vm30.p50.toFixed(2)} ms, p95 ${vm30.p95.toFixed(2)} ms`);
  await db.$disconnect();

  // ---- bytes per day --------------------------------------------------------
  const perDay = {
    raw: (86_400_000 / INTERVAL_MS) * sources * perRow[TIER_TABLE.raw]!,
    minute: (86_400_000 / ROLLUP_MS.minute) * sources * perRow[TIER_TABLE.minute]!,
    hour: (86_400_000 / ROLLUP_MS.hour) * sources * perRow[TIER_TABLE.hour]!,
  };
  const bytesPerDay = Math.round(perDay.raw + perDay.minute + perDay.hour);
  const steadyTotal = perDay.raw * 1 + perDay.minute * 30 + perDay.hour * 365;
  console.log(`\nstorage for ${sources} sources at ${INTERVAL_MS / 1000} s:`);
  console.log(
    `  bytes per row (table + indexes): raw ${perRow[TIER_TABLE.raw]!.toFixed(0)}, minute ${perRow[TIER_TABLE.minute]!.toFixed(0)}, hour ${perRow[TIER_TABLE.hour]!.toFixed(0)}`,
  );
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
