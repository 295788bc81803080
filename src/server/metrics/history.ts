// Reading history: a window (named range or custom from/to), a plan (which
// tier, which step) that keeps a series at or under MAX_POINTS, and the query.
//
// The plan reads the coarsest tier that still gives MIN_POINTS over the
// window, so 7 and 30 days read hour rows (168 and 720 per source) instead of
// 100,000+ raw rows. Buckets the tier has not closed yet (the current hour or
// minute) are filled from the finer tiers and merged exactly (weighted by N),
// so the newest point is never missing. Buckets without data stay null: a gap
// is shown as a gap.
import { Prisma } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env } from "../env";
import { DomainError, forbidden } from "../errors";
import { canViewHostMetrics, type Actor } from "../permissions";
import { isMetricName, METRICS, type MetricName, type SourceKind } from "./catalog";
import { watchedPaths } from "./collectors/host";
import { fsSource, HOST_SOURCE, netSource, sourceKind, vmSource } from "./sources";
import { metricAggregates, retentionPolicy, rollupCursors, ROLLUP_MS, TIER_TABLE, type RetentionPolicy, type Tier } from "./store";
import { assertCanViewVmMetrics } from "./vm-access";

export const RANGES = {
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 24 * 3_600_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
} as const;
export type RangeKey = keyof typeof RANGES;
export const RANGE_KEYS = Object.keys(RANGES) as RangeKey[];

export const MAX_POINTS = 500;
const MIN_POINTS = 120;
export const MAX_METRICS = 8;
export const MAX_SPAN_MS = 366 * 86_400_000;
const MIN_SPAN_MS = 60_000;
const STEPS_MS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800].map((s) => s * 1000);

export interface HistoryInput {
  metrics: string[];
  range?: RangeKey;
  /** Custom window, epoch ms (both or neither; range wins when given). */
  from?: number;
  to?: number;
}

export interface Window {
  from: number;
  to: number;
}

const bad = (message: string) => new DomainError("BAD_REQUEST", message);

/** The time window asked for, validated. */
export function resolveWindow(input: Pick<HistoryInput, "range" | "from" | "to">, nowMs: number): Window {
  if (input.range) return { from: nowMs - RANGES[input.range], to: nowMs };
  if (input.from === undefined || input.to === undefined) throw bad(`Give a range (${RANGE_KEYS.join(", ")}) or both from and to.`);
  const { from, to } = input;
  if (!(from < to)) throw bad("The start of the range must be before its end.");
  if (to - from > MAX_SPAN_MS) throw bad(`The range is too long: at most ${MAX_SPAN_MS / 86_400_000} days.`);
  if (to - from < MIN_SPAN_MS) throw bad("The range is too short: at least one minute.");
  // Nothing is known about the future: the window ends now at the latest.
  if (from >= nowMs) throw bad("The range lies in the future.");
  return { from, to: Math.min(to, nowMs) };
}

/** The metrics asked for, validated against the catalog and what this kind of source measures. */
export function resolveMetrics(names: string[], kind: SourceKind): MetricName[] {
  if (names.length === 0) throw bad("Ask for at least one metric.");
  if (names.length > MAX_METRICS) throw bad(`Too many metrics: at most ${MAX_METRICS} per request.`);
  const unique = [...new Set(names)];
  for (const name of unique) {
    if (!isMetricName(name)) throw bad(`Unknown metric "${name}".`);
    if (!(METRICS[name].kinds as readonly SourceKind[]).includes(kind)) throw bad(`"${name}" is not measured for ${kind === "vm" ? "VMs" : `the ${kind}`}.`);
  }
  return unique as MetricName[];
}

export interface Plan {
  tier: Tier;
  stepMs: number;
}

const tierResolution = (tier: Tier, rawMs: number) => (tier === "raw" ? rawMs : ROLLUP_MS[tier]);

/**
 * Chooses the tier and bucket step for a window: the coarsest tier that still
 * has MIN_POINTS buckets over the window and still holds data for its start,
 * then the smallest step that keeps the series at or under MAX_POINTS.
 */
export function planQuery(w: Window, nowMs: number, rawIntervalMs: number, policy: RetentionPolicy = retentionPolicy()): Plan {
  const span = w.to - w.from;
  const holds = { raw: w.from >= nowMs - policy.rawMs, minute: w.from >= nowMs - policy.minuteMs, hour: true };
  const order: Tier[] = ["hour", "minute", "raw"];
  let tier: Tier | undefined = order.find((t) => holds[t] && span / tierResolution(t, rawIntervalMs) >= MIN_POINTS);
  // A short window in the past beyond raw retention: the finest tier still holding it.
  tier ??= [...order].reverse().find((t) => holds[t]) ?? "hour";
  const res = tierResolution(tier, rawIntervalMs);
  const wanted = Math.max(res, span / MAX_POINTS);
  // Steps of a minute or more are whole minutes or hours, so they are whole
  // multiples of the rollup bucket they are read from.
  const stepMs = STEPS_MS.find((s) => s >= wanted) ?? Math.ceil(wanted / 86_400_000) * 86_400_000;
  return { tier, stepMs };
}

/** Partial aggregate of one metric in one bucket; merges exactly with another. */
interface Agg {
  sum: number;
  n: number;
  min: number | null;
  max: number | null;
}

type Buckets = Map<number, Map<MetricName, Agg>>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const q = (name: string) => Prisma.raw(`"${name}"`);

async function aggregate(db: Db, tier: Tier, source: string, metrics: MetricName[], from: number, to: number, stepMs: number, into: Buckets): Promise<void> {
  if (from >= to) return;
  const cols = metrics.flatMap((m, i) => metricAggregates(tier, m).map((expr, k) => Prisma.sql`${expr} AS ${Prisma.raw(`"${"alhn"[k]}${i}"`)}`));
  const step = Prisma.raw(String(Math.trunc(stepMs))); // an integer literal keeps the division integral
  const rows = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT ("ts" / ${step}) * ${step} AS "b", ${Prisma.join(cols, ", ")}
    FROM ${q(TIER_TABLE[tier])}
    WHERE "source" = ${source} AND "ts" >= ${BigInt(Math.floor(from))} AND "ts" < ${BigInt(Math.ceil(to))}
    GROUP BY 1`;
  for (const row of rows) {
    const bucket = Number(row.b);
    let metricsOfBucket = into.get(bucket);
    if (!metricsOfBucket) into.set(bucket, (metricsOfBucket = new Map()));
    metrics.forEach((m, i) => {
      const n = Number(row[`n${i}`] ?? 0);
      if (n === 0) return;
      const add: Agg = { sum: num(row[`a${i}`])! * n, n, min: num(row[`l${i}`]), max: num(row[`h${i}`]) };
      const prev = metricsOfBucket.get(m);
      metricsOfBucket.set(
        m,
        prev
          ? {
              sum: prev.sum + add.sum,
              n: prev.n + add.n,
              min: Math.min(prev.min ?? Infinity, add.min ?? Infinity),
              max: Math.max(prev.max ?? -Infinity, add.max ?? -Infinity),
            }
          : add,
      );
    });
  }
}

export interface Series {
  avg: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

export interface History {
  source: string;
  tier: Tier;
  stepMs: number;
  from: number;
  to: number;
  /** Bucket start times (epoch ms), one per point, evenly spaced. */
  t: number[];
  series: Partial<Record<MetricName, Series>>;
}

/**
 * Reads a series from `plan.tier`, filling the buckets that tier has not closed
 * yet from the finer tiers. With `rawOnly`, answers the same question from raw
 * rows alone (what the rollups save, measured in bench/history.ts).
 */
export async function readHistory(db: Db, source: string, metrics: MetricName[], w: Window, plan: Plan, opts: { rawOnly?: boolean } = {}): Promise<History> {
  const buckets: Buckets = new Map();
  const { tier, stepMs } = plan;
  const start = Math.floor(w.from / stepMs) * stepMs;
  if (opts.rawOnly || tier === "raw") {
    await aggregate(db, "raw", source, metrics, start, w.to, stepMs, buckets);
  } else {
    // Closed buckets from the chosen tier, then the still-open tail from finer tiers.
    const cursors = await rollupCursors(db);
    const minuteCursor = cursors.minute ?? start;
    const hourCursor = cursors.hour ?? start;
    const tierEnd = Math.min(w.to, tier === "hour" ? hourCursor : minuteCursor);
    await aggregate(db, tier, source, metrics, start, tierEnd, stepMs, buckets);
    if (tier === "hour") await aggregate(db, "minute", source, metrics, Math.max(start, tierEnd), Math.min(w.to, minuteCursor), stepMs, buckets);
    await aggregate(db, "raw", source, metrics, Math.max(start, tierEnd, minuteCursor), w.to, stepMs, buckets);
  }
  const t: number[] = [];
  for (let b = start; b < w.to; b += stepMs) t.push(b);
  const series: Partial<Record<MetricName, Series>> = {};
  for (const m of metrics) {
    const s: Series = { avg: [], min: [], max: [] };
    for (const b of t) {
      const agg = buckets.get(b)?.get(m);
      s.avg.push(agg ? agg.sum / agg.n : null);
      s.min.push(agg?.min ?? null);
      s.max.push(agg?.max ?? null);
    }
    series[m] = s;
  }
  return { source, tier: opts.rawOnly ? "raw" : tier, stepMs, from: w.from, to: w.to, t, series };
}

/** History of any source, validated and planned; callers check permission first. */
export async function sourceHistory(db: Db, source: string, input: HistoryInput, nowMs: number, opts?: { rawOnly?: boolean }): Promise<History> {
  const metrics = resolveMetrics(input.metrics, sourceKind(source));
  const w = resolveWindow(input, nowMs);
  const plan = planQuery(w, nowMs, env().SAMPLER_INTERVAL_MS);
  return readHistory(db, source, metrics, w, plan, opts);
}

export async function hostHistory(db: Db, actor: Actor, input: HistoryInput, nowMs = Date.now()): Promise<History> {
  if (!canViewHostMetrics(actor)) throw forbidden();
  return sourceHistory(db, HOST_SOURCE, input, nowMs);
}

/** A VM's history: only for its owner and admins. */
export async function vmHistory(db: Db, actor: Actor, vmId: string, input: HistoryInput, nowMs = Date.now()): Promise<History> {
  await assertCanViewVmMetrics(db, actor, vmId);
  return sourceHistory(db, vmSource(vmId), input, nowMs);
}

// ---------------------------------------------------------------------------
// Per-device history: the watched filesystems and the network interfaces the
// host collector stores as their own sources ("fs:<path>", "net:<name>").

export type DeviceKind = "fs" | "net";

/** What a device's chart shows. */
export const DEVICE_METRICS = { fs: ["fsPct"], net: ["netRxBps", "netTxBps"] } as const satisfies Record<DeviceKind, readonly MetricName[]>;

/** At most this many interfaces are listed for a window (a host with many bridges or veths must not list hundreds). */
export const MAX_INTERFACES = 16;

export interface HostDevices {
  filesystems: { path: string; source: string }[];
  interfaces: { name: string; source: string }[];
  /** Interfaces with readings in the window beyond MAX_INTERFACES, not listed. */
  interfacesOmitted: number;
}

/**
 * The distinct sources starting with `prefix` that have rows in `w`, across
 * all tiers (the hour tier for the past, raw rows for the still-open tail).
 * A loose index scan over the (source, ts) key: it jumps from one distinct
 * source to the next inside the prefix (one seek each, plus one for the window
 * check), so the cost follows the number of interfaces, not of rows.
 */
async function sourcesWithReadings(db: Db, prefix: string, w: Window): Promise<string[]> {
  const like = `${prefix}%`;
  const from = BigInt(Math.floor(w.from));
  const to = BigInt(Math.ceil(w.to));
  const perTier = await Promise.all(
    (["raw", "minute", "hour"] as Tier[]).map(async (tier) => {
      const table = q(TIER_TABLE[tier]);
      const rows = await db.$queryRaw<{ source: string }[]>`
        WITH RECURSIVE "s"("source") AS (
          SELECT MIN("source") FROM ${table} WHERE "source" >= ${prefix}
          UNION ALL
          SELECT (SELECT MIN("source") FROM ${table} WHERE "source" > "s"."source") FROM "s" WHERE "s"."source" LIKE ${like}
        )
        SELECT "source" FROM "s"
        WHERE "source" LIKE ${like}
          AND EXISTS (SELECT 1 FROM ${table} AS "m" WHERE "m"."source" = "s"."source" AND "m"."ts" >= ${from} AND "m"."ts" < ${to})`;
      return rows.map((r) => r.source);
    }),
  );
  return [...new Set(perTier.flat())].sort();
}

/** The devices with history for a window: every watched filesystem, and the interfaces with readings in it. */
export async function hostDevices(db: Db, actor: Actor, input: Pick<HistoryInput, "range" | "from" | "to">, nowMs = Date.now()): Promise<HostDevices> {
  if (!canViewHostMetrics(actor)) throw forbidden();
  const w = resolveWindow(input, nowMs);
  const nics = await sourcesWithReadings(db, netSource(""), w);
  return {
    filesystems: watchedPaths().map((path) => ({ path, source: fsSource(path) })),
    interfaces: nics.slice(0, MAX_INTERFACES).map((source) => ({ name: source.slice(netSource("").length), source })),
    interfacesOmitted: Math.max(0, nics.length - MAX_INTERFACES),
  };
}

async function hasReadings(db: Db, source: string): Promise<boolean> {
  for (const tier of ["raw", "minute", "hour"] as Tier[]) {
    const rows = await db.$queryRaw<unknown[]>`SELECT 1 FROM ${q(TIER_TABLE[tier])} WHERE "source" = ${source} LIMIT 1`;
    if (rows.length > 0) return true;
  }
  return false;
}

/**
 * The history of one watched filesystem or one network interface, planned
 * like the host's. Any other source is refused: only watched paths and
 * interfaces with stored readings are known.
 */
export async function deviceHistory(db: Db, actor: Actor, source: string, input: HistoryInput, nowMs = Date.now()): Promise<History> {
  if (!canViewHostMetrics(actor)) throw forbidden();
  const kind = source.startsWith(fsSource("")) ? "fs" : source.startsWith(netSource("")) ? "net" : null;
  if (kind === null) throw bad(`Unknown source "${source}": give "fs:<watched path>" or "net:<interface>".`);
  const name = source.slice(kind.length + 1);
  if (kind === "fs") {
    const watched = watchedPaths();
    if (!watched.includes(name)) throw bad(`"${name}" is not a watched filesystem (watched: ${watched.join(", ")}).`);
  } else if (!(await hasReadings(db, source))) {
    throw bad(`No readings are stored for the network interface "${name}".`);
  }
  return sourceHistory(db, source, input, nowMs);
}
