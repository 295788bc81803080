// Writing samples, building rollups as buckets close, and retention.
//
// Tiers: "raw" (MetricSample, one row per source per tick), "minute"
// (MetricMinute) and "hour" (MetricHour). A rollup row keeps, per metric, the
// average, min, max and the number of readings (N) behind them, so any set of
// buckets merges exactly: avg = sum(avg * N) / sum(N).
//
// Rollups are incremental: MetricRollupCursor.closedThrough says up to where a
// tier is final, and each tick aggregates only [closedThrough, last closed
// bucket) of the finer tier with one INSERT ... SELECT. Raw rows are written
// with the time of the tick, which never lies before the cursor (the cursor
// only reaches the start of the current minute), so a closed bucket is never
// written to again.
import { Prisma } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env } from "../env";
import { METRIC_NAMES, type MetricName } from "./catalog";
import type { Reading } from "./collectors/types";

export type Tier = "raw" | "minute" | "hour";
export const TIER_TABLE: Record<Tier, string> = { raw: "MetricSample", minute: "MetricMinute", hour: "MetricHour" };
export const ROLLUP_MS = { minute: 60_000, hour: 3_600_000 } as const;
type RollupTier = keyof typeof ROLLUP_MS;
const FINER: Record<RollupTier, Tier> = { minute: "raw", hour: "minute" };

const q = (name: string) => Prisma.raw(`"${name}"`);
const finite = (v: number | null | undefined) => (typeof v === "number" && Number.isFinite(v) ? v : null);

const SAMPLE_COLUMNS = Prisma.join(["source", "ts", ...METRIC_NAMES].map(q), ", ");

/**
 * Writes one tick: every reading becomes one row, all in a single multi-row
 * INSERT, which the database applies atomically (one transaction). Hand-built
 * rather than createMany: Prisma's per-query work on this 30-column model cost
 * more than the insert itself.
 */
export async function writeTick(db: Db, tsMs: number, readings: readonly Reading[]): Promise<number> {
  if (readings.length === 0) return 0;
  const ts = BigInt(Math.trunc(tsMs));
  const rows = readings.map((r) => Prisma.sql`(${Prisma.join([r.source, ts, ...METRIC_NAMES.map((m) => finite(r.values[m]))], ", ")})`);
  return db.$executeRaw`INSERT INTO "MetricSample" (${SAMPLE_COLUMNS}) VALUES ${Prisma.join(rows, ", ")}`;
}

/**
 * SQL aggregates giving one metric's [avg, min, max, N] over a group of rows
 * of `tier`: plain AVG/MIN/MAX/COUNT over raw samples, or the exact merge of
 * rollup buckets (avg weighted by N). Used to build rollups and to read history.
 */
export function metricAggregates(tier: Tier, m: MetricName): [Prisma.Sql, Prisma.Sql, Prisma.Sql, Prisma.Sql] {
  if (tier === "raw") return [Prisma.sql`AVG(${q(m)})`, Prisma.sql`MIN(${q(m)})`, Prisma.sql`MAX(${q(m)})`, Prisma.sql`COUNT(${q(m)})`];
  const [avg, min, max, n] = [q(`${m}Avg`), q(`${m}Min`), q(`${m}Max`), q(`${m}N`)];
  return [Prisma.sql`SUM(${avg} * ${n}) / NULLIF(SUM(${n}), 0)`, Prisma.sql`MIN(${min})`, Prisma.sql`MAX(${max})`, Prisma.sql`COALESCE(SUM(${n}), 0)`];
}

const ROLLUP_COLUMNS = Prisma.join(["source", "ts", "samples", ...METRIC_NAMES.flatMap((m) => [`${m}Avg`, `${m}Min`, `${m}Max`, `${m}N`])].map(q), ", ");

function rollupInsert(tier: RollupTier, fromMs: number, toMs: number): Prisma.Sql {
  const finer = FINER[tier];
  // A literal, not a parameter: a bound JS number may arrive as a float and
  // turn the integer division into a real one.
  const size = Prisma.raw(String(ROLLUP_MS[tier]));
  const samples = finer === "raw" ? Prisma.sql`COUNT(*)` : Prisma.sql`SUM("samples")`;
  return Prisma.sql`INSERT INTO ${q(TIER_TABLE[tier])} (${ROLLUP_COLUMNS})
    SELECT "source", ("ts" / ${size}) * ${size}, ${samples}, ${Prisma.join(
      METRIC_NAMES.flatMap((m) => metricAggregates(finer, m)),
      ", ",
    )}
    FROM ${q(TIER_TABLE[finer])}
    WHERE "ts" >= ${BigInt(fromMs)} AND "ts" < ${BigInt(toMs)}
    GROUP BY 1, 2`;
}

/** Up to where a rollup tier is final (epoch ms), or null before its first rollup. */
export async function rollupCursor(db: Db, tier: RollupTier): Promise<number | null> {
  const row = await db.metricRollupCursor.findUnique({ where: { tier } });
  return row ? Number(row.closedThrough) : null;
}

/** Both rollup cursors in one query (history reads, retention, health). */
export async function rollupCursors(db: Db): Promise<Record<RollupTier, number | null>> {
  const cursors: Record<RollupTier, number | null> = { minute: null, hour: null };
  for (const row of await db.metricRollupCursor.findMany()) cursors[row.tier as RollupTier] = Number(row.closedThrough);
  return cursors;
}

// The cursors as this process last wrote them, so a tick in which no bucket
// closed costs no query at all. One sampler per process writes rollups.
const knownCursors = new WeakMap<Db, Partial<Record<RollupTier, number>>>();

async function oldestTs(db: Db, tier: Tier): Promise<number | null> {
  const rows = await db.$queryRaw<{ ts: bigint | number | null }[]>`SELECT MIN("ts") AS "ts" FROM ${q(TIER_TABLE[tier])}`;
  const ts = rows[0]?.ts;
  return ts === null || ts === undefined ? null : Number(ts);
}

export interface RollupResult {
  minute: number;
  hour: number;
}

/**
 * Rolls up every minute and hour bucket that has closed by `nowMs` and was not
 * rolled up yet. Each tier's rows and its cursor move in one transaction, so a
 * crash leaves either the whole step done or none of it.
 */
export async function rollUpClosedBuckets(db: Db, nowMs: number): Promise<RollupResult> {
  const done: RollupResult = { minute: 0, hour: 0 };
  let finerFinalThrough = nowMs; // raw rows are final as soon as they are written
  const known = knownCursors.get(db) ?? knownCursors.set(db, {}).get(db)!;
  for (const tier of ["minute", "hour"] as const) {
    const size = ROLLUP_MS[tier];
    const closedEnd = Math.floor(finerFinalThrough / size) * size;
    const cached = known[tier];
    if (cached !== undefined && cached >= closedEnd) {
      finerFinalThrough = cached;
      continue;
    }
    let from = cached ?? (await rollupCursor(db, tier));
    if (from === null) {
      const oldest = await oldestTs(db, FINER[tier]);
      from = oldest === null ? closedEnd : Math.floor(oldest / size) * size;
    }
    if (from < closedEnd) {
      const [inserted] = await db.$transaction([
        db.$executeRaw(rollupInsert(tier, from, closedEnd)),
        db.metricRollupCursor.upsert({ where: { tier }, create: { tier, closedThrough: BigInt(closedEnd) }, update: { closedThrough: BigInt(closedEnd) } }),
      ]);
      done[tier] = inserted;
    } else if (from === closedEnd) {
      await db.metricRollupCursor.upsert({ where: { tier }, create: { tier, closedThrough: BigInt(closedEnd) }, update: {} });
    }
    finerFinalThrough = known[tier] = Math.max(from, closedEnd);
  }
  return done;
}

export interface RetentionPolicy {
  rawMs: number;
  minuteMs: number;
  hourMs: number;
}

export function retentionPolicy(e = env()): RetentionPolicy {
  return {
    rawMs: e.METRICS_RAW_RETENTION_H * 3_600_000,
    minuteMs: e.METRICS_MINUTE_RETENTION_D * 86_400_000,
    hourMs: e.METRICS_HOUR_RETENTION_D * 86_400_000,
  };
}

export interface RetentionResult {
  deleted: Record<Tier, number>;
  cutoffs: Record<Tier, number>;
}

/**
 * Deletes rows older than each tier's retention (ts < now - retention). A row
 * not yet rolled up into the next tier is kept even when expired, so a sampler
 * that was down for longer than the raw retention loses nothing it could roll up.
 */
export async function applyRetention(db: Db, nowMs: number, policy: RetentionPolicy = retentionPolicy()): Promise<RetentionResult> {
  const { minute: minuteCursor, hour: hourCursor } = await rollupCursors(db);
  const cutoffs: Record<Tier, number> = {
    raw: Math.min(nowMs - policy.rawMs, minuteCursor ?? -Infinity),
    minute: Math.min(nowMs - policy.minuteMs, hourCursor ?? -Infinity),
    hour: nowMs - policy.hourMs,
  };
  const deleted: Record<Tier, number> = { raw: 0, minute: 0, hour: 0 };
  for (const tier of ["raw", "minute", "hour"] as const) {
    if (!Number.isFinite(cutoffs[tier])) continue;
    deleted[tier] = await db.$executeRaw`DELETE FROM ${q(TIER_TABLE[tier])} WHERE "ts" < ${BigInt(Math.floor(cutoffs[tier]))}`;
  }
  return { deleted, cutoffs };
}
