import { describe, expect, it } from "vitest";
import { countReadings, timeLabel, toBandPoints } from "~/components/metrics/band-points";

const MIN = 60_000;
const t0 = Date.UTC(2026, 10, 28, 10, 0);
const times = (n: number) => Array.from({ length: n }, (_, i) => t0 + i * MIN);

describe("toBandPoints", () => {
  it("gives each bucket the avg for the line and [min, max] for the band", () => {
    const points = toBandPoints(times(2), [{ key: "cpu", avg: [10, 20], min: [5, 15], max: [30, 25] }]);
    expect(points.map((p) => p.values.cpu)).toEqual([
      { avg: 10, min: 5, max: 30, band: [5, 30], isolated: false },
      { avg: 20, min: 15, max: 25, band: [15, 25], isolated: false },
    ]);
    expect(points.map((p) => p.t)).toEqual(times(2));
  });

  it("keeps an empty bucket as a gap in both the line and the band, never as zero", () => {
    const points = toBandPoints(times(5), [{ key: "cpu", avg: [1, 2, null, 4, 5], min: [0, 1, null, 3, 4], max: [2, 3, null, 5, 6] }]);
    expect(points[2]!.values.cpu).toEqual({ avg: null, min: null, max: null, band: null, isolated: false });
    expect(points.filter((p) => p.values.cpu!.band === null)).toHaveLength(1);
    expect(countReadings(points, "cpu")).toBe(4);
  });

  it("marks a reading between two gaps (or at an edge next to one) as isolated, so it is drawn as a dot", () => {
    const points = toBandPoints(times(5), [{ key: "x", avg: [7, null, 3, null, null], min: [7, null, 3, null, null], max: [7, null, 3, null, null] }]);
    expect(points.map((p) => p.values.x!.isolated)).toEqual([true, false, true, false, false]);
    expect(points[2]!.values.x!.band).toEqual([3, 3]);
  });

  it("treats non-finite values as missing and keeps the series of several metrics apart", () => {
    const points = toBandPoints(times(2), [
      { key: "rx", avg: [Number.NaN, 100], min: [1, 50], max: [2, 150] },
      { key: "tx", avg: [10, 20], min: [10, null], max: [10, 30] },
    ]);
    expect(points[0]!.values.rx!.avg).toBeNull();
    expect(points[0]!.values.rx!.band).toEqual([1, 2]);
    expect(points[1]!.values.tx!.band).toBeNull(); // no min: no band, the avg line still shows
    expect(points[1]!.values.tx!.avg).toBe(20);
    expect(countReadings(points, "rx")).toBe(1);
    expect(countReadings(points, "tx")).toBe(2);
    expect(countReadings(points, "absent")).toBe(0);
  });
});

describe("timeLabel", () => {
  it("shows hours and minutes in UTC, with the date once the span is longer than a day and a half", () => {
    expect(timeLabel(t0 + 5 * MIN, 3_600_000)).toBe("10:05");
    expect(timeLabel(t0, 7 * 86_400_000)).toBe("11-28 10:00");
  });
});
