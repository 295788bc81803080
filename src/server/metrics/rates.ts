// Rates from monotonically increasing counters (bytes, operations). The kernel
// counters reset when an interface or disk goes away and comes back (or wraps),
// so a counter lower than before starts a new baseline instead of producing a
// negative rate: that interval has no rate (null), the next one does.

export class CounterRates {
  private last = new Map<string, { value: number; atMs: number }>();

  /**
   * Per-second rate of `key` since the previous call, or null on the first
   * reading, after a reset, or when no time has passed.
   */
  rate(key: string, value: number, atMs: number): number | null {
    const prev = this.last.get(key);
    this.last.set(key, { value, atMs });
    if (!prev || !Number.isFinite(value)) return null;
    const dtS = (atMs - prev.atMs) / 1000;
    const delta = value - prev.value;
    if (dtS <= 0 || delta < 0) return null;
    return delta / dtS;
  }

  /** Drops counters not seen in this round (e.g. a removed interface). */
  retainOnly(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const key of this.last.keys()) if (!keep.has(key)) this.last.delete(key);
  }
}

/** Percentages rounded so the stored value has no noise digits. */
export const pct = (part: number, whole: number): number | null => (whole > 0 ? Math.round((part / whole) * 10000) / 100 : null);
