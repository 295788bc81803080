import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordEvent } from "~/server/events/record";
import { runEventRetention } from "~/server/events/retention";
import { createTestDb, type TestDb } from "../../support/db";

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t.close());

describe("event retention", () => {
  it("deletes events older than the retention and keeps the rest", async () => {
    const now = new Date("2026-11-28T00:00:00Z");
    const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
    for (const d of [200, 91, 90.5, 89, 1]) await recordEvent(t.db, { type: "system", action: "x", message: `${d} days old`, at: daysAgo(d) });
    await t.db.correlationState.create({ data: { key: "bruteforce:192.0.2.1", lastSeenAt: daysAgo(2) } });
    await t.db.correlationState.create({ data: { key: "bruteforce:192.0.2.2", lastSeenAt: daysAgo(0.01) } });
    const r = await runEventRetention(t.db, 90, { now: () => now });
    expect(r).toEqual({ deleted: 3, pruned: 1 });
    expect((await t.db.event.findMany({ orderBy: { createdAt: "asc" } })).map((e) => e.message)).toEqual(["89 days old", "1 days old"]);
  });
});
