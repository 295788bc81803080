// The history page's range when the URL names none: the smallest range that
// holds all of the host's data, up to 24 h. A host sampled for 40 minutes shows
// those 40 minutes across the chart (1 h), not a sliver at the right of 24 h.
import type { Db } from "../db/client";
import { RANGE_KEYS, RANGES, type RangeKey } from "./history";
import { HOST_SOURCE } from "./sources";

const LONGEST_DEFAULT: RangeKey = "24h";

/** The smallest range at least as long as spanMs, capped at 24 h; 1 h with no data (null). */
export function smallestRangeHolding(spanMs: number | null): RangeKey {
  const candidates = RANGE_KEYS.filter((k) => RANGES[k] <= RANGES[LONGEST_DEFAULT]).sort((a, b) => RANGES[a] - RANGES[b]);
  if (spanMs === null) return candidates[0]!;
  return candidates.find((k) => RANGES[k] >= spanMs) ?? LONGEST_DEFAULT;
}

/** The oldest host reading in any tier (retention trims raw first, so the rollups may reach further back). */
export async function oldestHostReading(db: Db): Promise<number | null> {
  const where = { source: HOST_SOURCE };
  const args = { where, orderBy: { ts: "asc" as const }, select: { ts: true } };
  const rows = await Promise.all([db.metricSample.findFirst(args), db.metricMinute.findFirst(args), db.metricHour.findFirst(args)]);
  const ts = rows.flatMap((r) => (r ? [Number(r.ts)] : []));
  return ts.length ? Math.min(...ts) : null;
}

export async function defaultHostRange(db: Db, nowMs = Date.now()): Promise<RangeKey> {
  const oldest = await oldestHostReading(db);
  return smallestRangeHolding(oldest === null ? null : nowMs - oldest);
}
