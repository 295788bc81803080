// Alerts under a fake clock: duration, hysteresis, exactly one open and one
// resolve (each with its Event), no repeats; and webhook delivery with retries
// against a real HTTP server on 127.0.0.1.
import { vi } from "vitest";
vi.hoisted(() => {
  // The receivers here listen on loopback, which webhooks reach only with this setting.
  process.env.WEBHOOK_ALLOW_PRIVATE = "true";
});
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { AlertEvaluator } from "~/server/metrics/alerts/evaluator";
import { DEFAULT_ALERT_RULES, ensureDefaultAlertRules } from "~/server/metrics/alerts/rules";
import { deliverWebhook } from "~/server/metrics/alerts/webhook";

let t: TestDb;
beforeEach(async () => (t = await createTestDb()));
afterEach(async () => t.close());

const T0 = Date.UTC(2026, 10, 28, 1, 0, 0);
const host = (cpuPct: number | null) => [{ source: "host", values: { cpuPct } }];

describe("default rules", () => {
  it("are seeded once, and an admin's edit survives re-seeding", async () => {
    expect(await ensureDefaultAlertRules(t.db)).toBe(DEFAULT_ALERT_RULES.length);
    await t.db.alertRule.update({ where: { builtinKey: "host.cpu" }, data: { threshold: 95, enabled: false } });
    expect(await ensureDefaultAlertRules(t.db)).toBe(0);
    const rules = await t.db.alertRule.findMany();
    expect(rules).toHaveLength(4);
    expect(rules.find((r) => r.builtinKey === "host.cpu")).toMatchObject({ threshold: 95, enabled: false });
    expect(rules.map((r) => [r.metric, r.threshold, r.durationS]).sort()).toEqual([
      ["cpuPct", 95, 60],
      ["fsPct", 90, 60],
      ["memPct", 85, 60],
      ["swapPct", 50, 60],
    ]);
  });
});

describe("alert evaluation (fake clock)", () => {
  it("opens after the duration, stays open without repeats, resolves after the same hold at the clear level", async () => {
    await ensureDefaultAlertRules(t.db); // CPU >= 90 for 60 s, clears at 80
    const ev = new AlertEvaluator();
    const at = (s: number) => T0 + s * 1000;
    const run = (s: number, v: number | null) => ev.evaluate(t.db, host(v), at(s));

    // Over the threshold, but interrupted before a minute has passed: nothing.
    for (let s = 0; s < 50; s += 5) expect((await run(s, 95)).opened).toEqual([]);
    await run(50, 70);
    for (let s = 55; s < 115; s += 5) expect((await run(s, 92)).opened).toEqual([]);
    // Held for a full minute now (55 .. 115).
    const opened = await run(115, 93);
    expect(opened.opened).toHaveLength(1);

    // Still high, then between clear level and threshold: no repeat, no resolve.
    for (let s = 120; s < 300; s += 5) {
      const r = await run(s, s < 200 ? 99 : 85);
      expect(r).toEqual({ opened: [], resolved: [] });
    }
    // At or below the clear level: resolves only once that has held for the rule's minute (300 .. 360).
    for (let s = 300; s < 360; s += 5) expect(await run(s, 79)).toEqual({ opened: [], resolved: [] });
    const resolved = await run(360, 79);
    expect(resolved.resolved).toEqual(opened.opened);
    expect(await run(365, 10)).toEqual({ opened: [], resolved: [] });

    const alerts = await t.db.alertInstance.findMany();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      source: "host",
      openValue: 93,
      peakValue: 99,
      lastValue: 79,
      openedAt: new Date(at(115)),
      resolvedAt: new Date(at(360)),
    });
    const events = await t.db.event.findMany({ where: { type: "alert" }, orderBy: { createdAt: "asc" } });
    expect(events.map((e) => [e.action, e.severity, e.createdAt.getTime()])).toEqual([
      ["alert.open", "WARNING", at(115)],
      ["alert.resolve", "WARNING", at(360)],
    ]);
    expect(events[0]!.message).toContain("Host CPU high");
  });

  it("does not repeat an open alert after a restart (a new evaluator)", async () => {
    await ensureDefaultAlertRules(t.db);
    const first = new AlertEvaluator();
    for (let s = 0; s <= 60; s += 5) await first.evaluate(t.db, host(97), T0 + s * 1000);
    expect(await t.db.alertInstance.count()).toBe(1);
    const second = new AlertEvaluator();
    for (let s = 65; s <= 300; s += 5) expect(await second.evaluate(t.db, host(97), T0 + s * 1000)).toEqual({ opened: [], resolved: [] });
    expect(await t.db.alertInstance.count()).toBe(1);
    expect(await t.db.event.count({ where: { type: "alert" } })).toBe(1);
  });

  it("watches every VM separately and resolves a VM alert once the VM stops reporting", async () => {
    const rule = await t.db.alertRule.create({
      data: { name: "VM CPU", metric: "cpuPct", comparison: "gte", threshold: 80, clearThreshold: 70, durationS: 10, scope: "vms", severity: "CRITICAL" },
    });
    const ev = new AlertEvaluator();
    const vms = (a: number, b: number) => [
      { source: "vm:a", values: { cpuPct: a } },
      { source: "vm:b", values: { cpuPct: b } },
      { source: "host", values: { cpuPct: 100 } }, // out of this rule's scope
    ];
    for (let s = 0; s <= 10; s += 5) await ev.evaluate(t.db, vms(90, 20), T0 + s * 1000);
    const open = await t.db.alertInstance.findMany();
    expect(open.map((a) => [a.source, a.ruleId, a.severity])).toEqual([["vm:a", rule.id, "CRITICAL"]]);
    const openEvent = await t.db.event.findFirstOrThrow({ where: { action: "alert.open" } });
    expect(openEvent).toMatchObject({ severity: "CRITICAL", targetVmId: "a" });

    // vm:a stops: no readings for five minutes resolves it.
    const r = await ev.evaluate(t.db, [{ source: "vm:b", values: { cpuPct: 20 } }], T0 + 10_000 + 5 * 60_000);
    expect(r.resolved).toEqual([open[0]!.id]);
  });
});

describe("webhook", () => {
  let server: http.Server;
  let url: string;
  const received: { body: unknown; headers: http.IncomingHttpHeaders }[] = [];
  let failuresLeft = 0;
  beforeEach(async () => {
    received.length = 0;
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push({ body: JSON.parse(body), headers: req.headers });
        if (failuresLeft-- > 0) res.writeHead(503).end("busy");
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  async function openAlertWithWebhook(webhookUrl: string) {
    await t.db.alertRule.create({
      data: { name: "Disk", metric: "fsPct", comparison: "gte", threshold: 90, clearThreshold: 85, durationS: 0, scope: "host", webhookUrl },
    });
    const sleeps: number[] = [];
    const ev = new AlertEvaluator({
      deliver: (db, id) => deliverWebhook(db, id, { maxAttempts: 4, baseDelayMs: 1000, sleep: async (ms) => void sleeps.push(ms) }),
    });
    await ev.evaluate(t.db, [{ source: "host", values: { fsPct: 95.5 } }], T0);
    await ev.idle();
    return { ev, sleeps };
  }

  it("retries with backoff until the receiver accepts, and records the outcome", async () => {
    failuresLeft = 2;
    const { ev, sleeps } = await openAlertWithWebhook(url);
    expect(received).toHaveLength(3);
    expect(sleeps).toEqual([1000, 2000]);
    const delivery = await t.db.webhookDelivery.findFirstOrThrow();
    expect(delivery).toMatchObject({ status: "delivered", attempts: 3, lastStatus: 204, lastError: null, event: "alert.opened" });
    const body = received[2]!.body as Record<string, unknown>;
    expect(received[2]!.headers["content-type"]).toBe("application/json");
    expect(received[2]!.headers["x-twarga-event"]).toBe("alert.opened");
    expect(body).toMatchObject({
      version: 1,
      event: "alert.opened",
      deliveryId: delivery.id,
      alert: { status: "open", severity: "warning", source: "host", sourceKind: "host", vmId: null, metric: "fsPct", value: 95.5 },
      rule: { name: "Disk", threshold: 90, clearThreshold: 85 },
    });

    // The resolve is a second delivery.
    await ev.evaluate(t.db, [{ source: "host", values: { fsPct: 50 } }], T0 + 5000);
    await ev.idle();
    expect((received.at(-1)!.body as { event: string }).event).toBe("alert.resolved");
    expect(await t.db.webhookDelivery.count({ where: { status: "delivered" } })).toBe(2);
  });

  it("gives up after the last attempt and records the failure", async () => {
    failuresLeft = 100;
    const { sleeps } = await openAlertWithWebhook(url);
    expect(received).toHaveLength(4);
    expect(sleeps).toEqual([1000, 2000, 4000]);
    expect(await t.db.webhookDelivery.findFirstOrThrow()).toMatchObject({ status: "failed", attempts: 4, lastStatus: 503, lastError: "HTTP 503" });
  });

  it("records a connection error as the outcome", async () => {
    await new Promise<void>((r) => server.close(() => r()));
    server = http.createServer().listen(0, "127.0.0.1"); // keep afterEach happy
    await openAlertWithWebhook(url);
    const delivery = await t.db.webhookDelivery.findFirstOrThrow();
    expect(delivery.status).toBe("failed");
    expect(delivery.lastStatus).toBeNull();
    expect(delivery.lastError).toMatch(/fetch failed|ECONNREFUSED/);
  });
});
