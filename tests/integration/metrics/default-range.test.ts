// The history page's default range from the real tables: the smallest range
// holding the host's data, up to 24 h, across the raw and rollup tiers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { defaultHostRange, smallestRangeHolding } from "~/server/metrics/default-range";
import { writeTick } from "~/server/metrics/store";

let t: TestDb;
const now = Date.UTC(2026, 10, 30, 12, 0, 0);
const MIN = 60_000;

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => t.close());

describe("smallestRangeHolding", () => {
  it.each([
    [null, "1h"],
    [40 * MIN, "1h"],
    [60 * MIN, "1h"],
    [61 * MIN, "6h"],
    [7 * 60 * MIN, "24h"],
    [30 * 24 * 60 * MIN, "24h"],
  ] as const)("%s ms of data → %s", (span, range) => {
    expect(smallestRangeHolding(span)).toBe(range);
  });
});

describe("defaultHostRange", () => {
  it("is 1 h with no data, 1 h for 40 minutes of readings, 6 h once the oldest is 2 h old", async () => {
    expect(await defaultHostRange(t.db, now)).toBe("1h");
    for (let m = 40; m >= 0; m -= 5) await writeTick(t.db, now - m * MIN, [{ source: "host", values: { cpuPct: m } }]);
    // Another source's older data does not count for the host's charts.
    await writeTick(t.db, now - 10 * 60 * MIN, [{ source: "vm:ckother0000000000000001", values: { cpuPct: 1 } }]);
    expect(await defaultHostRange(t.db, now)).toBe("1h");
    // Raw readings trimmed by retention but kept as a minute bucket still count.
    await t.db.metricMinute.create({ data: { source: "host", ts: BigInt(now - 120 * MIN), samples: 12 } });
    expect(await defaultHostRange(t.db, now)).toBe("6h");
  });

  it("does not take a rollup bucket's start for the oldest reading when the bucket holds only newer readings", async () => {
    const own = await createTestDb();
    try {
      // Readings from a minute before an hour boundary to two past it (as the sampler writes them), seen a minute later:
      // the previous hour's bucket starts 61 minutes before that minute, yet holds one minute of readings.
      const hourStart = Math.floor(now / (60 * MIN)) * 60 * MIN;
      for (let m = -1; m <= 2; m++) await writeTick(own.db, hourStart + m * MIN, [{ source: "host", values: { cpuPct: 5 } }]);
      for (const ts of [hourStart - 60 * MIN, hourStart])
        await own.db.metricHour.upsert({
          where: { source_ts: { source: "host", ts: BigInt(ts) } },
          create: { source: "host", ts: BigInt(ts), samples: 1 },
          update: {},
        });
      expect(await defaultHostRange(own.db, hourStart + 3 * MIN)).toBe("1h");
      // A bucket that ends before the oldest raw reading holds readings retention trimmed: it counts.
      await own.db.metricHour.create({ data: { source: "host", ts: BigInt(hourStart - 180 * MIN), samples: 12 } });
      expect(await defaultHostRange(own.db, hourStart + 3 * MIN)).toBe("6h");
    } finally {
      await own.close();
    }
  });
});
