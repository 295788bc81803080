// Shapes history series (bucket times plus avg/min/max arrays, null for an
// empty bucket) into the rows a band chart draws: per series the avg for the
// line and [min, max] for the shaded range. Pure, so the client chart and the
// tests share it.

export interface BandSeriesInput {
  key: string;
  avg: readonly (number | null)[];
  min: readonly (number | null)[];
  max: readonly (number | null)[];
}

export interface BandValue {
  avg: number | null;
  min: number | null;
  max: number | null;
  /** [min, max] for the shaded area; null breaks the area like a null avg breaks the line. */
  band: [number, number] | null;
  /**
   * A reading between two empty buckets: a line needs two neighbours to show,
   * so the chart draws a dot here instead of hiding the reading.
   */
  isolated: boolean;
}

export interface BandPoint {
  t: number;
  label: string;
  values: Record<string, BandValue>;
}

/** The x-axis label of a bucket: UTC on purpose, the server renders this too and the two must agree. */
export function timeLabel(t: number, spanMs: number): string {
  const iso = new Date(t).toISOString();
  const hm = iso.slice(11, 16);
  return spanMs > 36 * 3_600_000 ? `${iso.slice(5, 10)} ${hm}` : hm;
}

const present = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

export function toBandPoints(t: readonly number[], series: readonly BandSeriesInput[]): BandPoint[] {
  const span = (t.at(-1) ?? 0) - (t[0] ?? 0);
  return t.map((time, i) => {
    const values: Record<string, BandValue> = {};
    for (const s of series) {
      const avg = present(s.avg[i]) ? s.avg[i]! : null;
      const min = present(s.min[i]) ? s.min[i]! : null;
      const max = present(s.max[i]) ? s.max[i]! : null;
      values[s.key] = {
        avg,
        min,
        max,
        band: min !== null && max !== null ? [Math.min(min, max), Math.max(min, max)] : null,
        isolated: avg !== null && !present(s.avg[i - 1]) && !present(s.avg[i + 1]),
      };
    }
    return { t: time, label: timeLabel(time, span), values };
  });
}

/** How many buckets of a series hold a reading (0 = nothing in this range). */
export function countReadings(points: readonly BandPoint[], key: string): number {
  return points.filter((p) => (p.values[key]?.avg ?? null) !== null).length;
}
