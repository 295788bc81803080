// Hysteresis: a rule's clear level lies strictly on the other side of its
// threshold, and an open alert resolves only after the value has stayed past
// the clear level for the rule's duration, the same hold that opens it. A value
// oscillating around the threshold, with single readings dipping below the
// clear level, opens one alert and resolves it once.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlertEvaluator } from "~/server/metrics/alerts/evaluator";
import { createAlertRule, type AlertRuleInput } from "~/server/metrics/alerts/rules";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";

let t: TestDb;
let admin: Actor;
beforeEach(async () => {
  t = await createTestDb();
  const u = await t.db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
  admin = { id: u.id, email: u.email, role: "ADMIN" };
});
afterEach(() => t.close());

const T0 = Date.UTC(2026, 10, 30, 2, 0, 0);
const rule = (over: Partial<AlertRuleInput> = {}): AlertRuleInput => ({
  name: "CPU high",
  metric: "cpuPct",
  comparison: "gte",
  threshold: 90,
  clearThreshold: 80,
  durationS: 30,
  scope: "host",
  severity: "WARNING",
  enabled: true,
  webhookUrl: null,
  ...over,
});

describe("clear level", () => {
  it("must lie strictly below the threshold (above it for an lte rule)", async () => {
    await expect(createAlertRule(t.db, admin, rule({ clearThreshold: 90 }))).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("below the threshold"),
    });
    await expect(createAlertRule(t.db, admin, rule({ clearThreshold: 95 }))).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(createAlertRule(t.db, admin, rule({ comparison: "lte", threshold: 10, clearThreshold: 10 }))).rejects.toMatchObject({
      message: expect.stringContaining("above the threshold"),
    });
    await expect(createAlertRule(t.db, admin, rule({ comparison: "lte", threshold: 10, clearThreshold: 20 }))).resolves.toMatchObject({ clearThreshold: 20 });
    expect(await t.db.alertRule.count()).toBe(1);
  });
});

describe("a value oscillating around the threshold", () => {
  it("opens the alert once and resolves it once", async () => {
    await createAlertRule(t.db, admin, rule());
    const ev = new AlertEvaluator();
    const opened: string[] = [];
    const resolved: string[] = [];
    let s = 0;
    const tick = async (cpuPct: number) => {
      const r = await ev.evaluate(t.db, [{ source: "host", values: { cpuPct } }], T0 + s * 1000);
      opened.push(...r.opened);
      resolved.push(...r.resolved);
      s += 5;
    };
    // Flickering across the threshold: never 30 s above it in a row, so nothing opens.
    for (let i = 0; i < 20; i++) await tick(i % 2 ? 89 : 91);
    expect(opened).toEqual([]);
    // Above it for the hold: opens.
    for (let i = 0; i <= 6; i++) await tick(95);
    expect(opened).toHaveLength(1);
    // Around the threshold again, with single readings below the clear level every
    // 20 s: none is held for 30 s, so the alert stays open (no resolve, no reopen).
    for (let i = 0; i < 60; i++) await tick(i % 4 === 3 ? 75 : i % 2 ? 89 : 92);
    expect({ opened: opened.length, resolved }).toEqual({ opened: 1, resolved: [] });
    // Between the clear level and the threshold: still open.
    for (let i = 0; i < 12; i++) await tick(85);
    expect(resolved).toEqual([]);
    // At or below the clear level for the whole hold: resolves, once.
    for (let i = 0; i < 6; i++) await tick(78);
    expect(resolved).toEqual([]);
    await tick(78);
    expect(resolved).toEqual(opened);
    for (let i = 0; i < 20; i++) await tick(i % 2 ? 89 : 79);

    expect({ opened: opened.length, resolved: resolved.length }).toEqual({ opened: 1, resolved: 1 });
    expect(await t.db.alertInstance.count()).toBe(1);
    expect((await t.db.event.findMany({ where: { type: "alert" }, orderBy: { createdAt: "asc" } })).map((e) => e.action)).toEqual([
      "alert.open",
      "alert.resolve",
    ]);
  });

  it("resolves an lte alert only after the value has stayed above its clear level", async () => {
    await createAlertRule(t.db, admin, rule({ name: "CPU idle", comparison: "lte", threshold: 10, clearThreshold: 20, durationS: 10 }));
    const ev = new AlertEvaluator();
    const run = (s: number, cpuPct: number) => ev.evaluate(t.db, [{ source: "host", values: { cpuPct } }], T0 + s * 1000);
    await run(0, 5);
    expect((await run(10, 5)).opened).toHaveLength(1);
    expect((await run(15, 25)).resolved).toEqual([]);
    expect((await run(20, 15)).resolved).toEqual([]); // back inside: the hold starts over
    expect((await run(25, 25)).resolved).toEqual([]);
    expect((await run(30, 21)).resolved).toEqual([]);
    expect((await run(35, 22)).resolved).toHaveLength(1);
  });
});
