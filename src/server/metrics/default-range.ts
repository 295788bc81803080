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

/**
 * The oldest host reading in any tier (retention trims raw first, so the rollups may reach further back).
 * A rollup row is stamped with its bucket's start, which can be up to a bucket earlier than its first
 * reading: a bucket counts only when it ends before the finer tiers' oldest reading, i.e. when it holds
 * readings those tiers no longer have. (Otherwise 3 minutes of data past 20:00 would look 62 minutes old
 * through the 19:00 hour bucket.)
 */
export async function oldestHostReading(db: Db): Promise<number | null> {
  const where = { source: HOST_SOURCE };
  const args = { where, orderBy: { ts: "asc" as const }, select: { ts: true } };
  const [raw, minute, hour] = await Promise.all([db.metricSample.findFirst(args), db.metricMinute.findFirst(args), db.metricHour.findFirst(args)]);
  let oldest: number | null = raw ? Number(raw.ts) : null;
  for (const [row, widthMs] of [
    [minute, 60_000],
    [hour, 3_600_000],
  ] as const) {
    if (!row) continue;
    const start = Number(row.ts);
    if (oldest === null || start + widthMs <= oldest) oldest = start;
  }
  return oldest;
}

export async function defaultHostRange(db: Db, nowMs = Date.now()): Promise<RangeKey> {
  const oldest = await oldestHostReading(db);
  return smallestRangeHolding(oldest === null ? null : nowMs - oldest);
}
