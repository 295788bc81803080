// The ntfy push channel, against a stand-in ntfy server (tests/support/ntfy-server.ts)
// that speaks ntfy's publish format: an alert opening and resolving reach the
// topic with ntfy's Title, Priority and Tags headers (UTF-8 titles as RFC 2047
// words, which ntfy decodes), the access token of a protected topic, and the
// same Standard Webhooks signature as a webhook. A wrong token is final; the
// address rules are the webhook's; the token never leaves the server.
import { vi } from "vitest";
vi.hoisted(() => {
  // The stand-in listens on loopback, which only this setting allows (refusals below pass allowPrivate: false).
  process.env.WEBHOOK_ALLOW_PRIVATE = "true";
});
import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { enqueueAlertNotifications } from "~/server/metrics/alerts/deliveries";
import { headerText } from "~/server/metrics/alerts/ntfy";
import { createAlertRule, listAlertRules, updateAlertRule, type AlertRuleInput } from "~/server/metrics/alerts/rules";
import { deliverWebhook } from "~/server/metrics/alerts/webhook";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { startNtfyServer, type NtfyServer } from "../../support/ntfy-server";

const TOKEN = "tk_0123456789abcdefghijklmnop";
let t: TestDb;
let admin: Actor;
let ntfy: NtfyServer;

beforeEach(async () => {
  t = await createTestDb();
  const u = await t.db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
  admin = { id: u.id, email: u.email, role: "ADMIN" };
  ntfy = await startNtfyServer({ tokens: { phones: TOKEN } });
});
afterEach(async () => {
  await ntfy.close();
  await t.close();
});

const ruleInput = (over: Partial<AlertRuleInput> = {}): AlertRuleInput => ({
  name: "Disque presque plein ≥ 90 %",
  metric: "fsPct",
  comparison: "gte",
  threshold: 90,
  clearThreshold: 85,
  durationS: 60,
  scope: "host",
  severity: "CRITICAL",
  enabled: true,
  webhookUrl: null,
  ntfyUrl: ntfy.topicUrl("phones"),
  ntfyToken: TOKEN,
  ...over,
});

/** Opens (and with `resolve` resolves) an alert of the rule and sends its ntfy deliveries the way the evaluator does. */
async function transitions(ruleId: string, opts: { resolve?: boolean; allowPrivate?: boolean } = {}) {
  const rule = await t.db.alertRule.findUniqueOrThrow({ where: { id: ruleId } });
  const openedAt = new Date();
  let alert = await t.db.alertInstance.create({
    data: { ruleId, source: "host", severity: rule.severity, openedAt, openValue: 93.5, peakValue: 96, lastValue: 96 },
  });
  const sent = [];
  for (const id of await enqueueAlertNotifications(t.db, rule, alert, "alert.opened", openedAt))
    sent.push(await deliverWebhook(t.db, id, { allowPrivate: opts.allowPrivate, sleep: async () => {} }));
  if (opts.resolve) {
    alert = await t.db.alertInstance.update({ where: { id: alert.id }, data: { resolvedAt: new Date(), lastValue: 80 } });
    for (const id of await enqueueAlertNotifications(t.db, rule, alert, "alert.resolved", new Date()))
      sent.push(await deliverWebhook(t.db, id, { sleep: async () => {} }));
  }
  return sent;
}

describe("ntfy push", () => {
  it("pushes an opening and a resolution in ntfy's format, with the token and the webhook signature", async () => {
    const rule = await createAlertRule(t.db, admin, ruleInput());
    expect(rule.webhookSecret).toMatch(/^whsec_/); // an ntfy-only rule is signed too
    expect(await transitions(rule.id, { resolve: true })).toEqual(["delivered", "delivered"]);

    const [opened, resolved] = await ntfy.poll("phones");
    expect(opened).toMatchObject({
      event: "message",
      topic: "phones",
      title: "Critical: Disque presque plein ≥ 90 %",
      priority: 5,
      tags: ["rotating_light", "critical", "fsPct"],
    });
    expect(opened!.message).toMatch(/≥ 90 % on the host for 60 s \(now 96 %\)\.$/);
    expect(resolved).toMatchObject({ title: "Resolved: Disque presque plein ≥ 90 %", tags: ["white_check_mark", "resolved", "fsPct"] });
    expect(resolved!.priority).toBeUndefined(); // 3, ntfy's default, which ntfy leaves out
    expect(resolved!.message).toMatch(/is back \(now 80 %, peak 96 %\)\.$/);

    // On the wire: POST, the headers ntfy reads, the bearer token, and a signature over the body with the rule's secret.
    const wire = ntfy.publishes[0]!;
    expect(wire.method).toBe("POST");
    expect(wire.headers.title).toBe(headerText("Critical: Disque presque plein ≥ 90 %"));
    expect(wire.headers.title).toMatch(/^=\?UTF-8\?B\?/);
    expect(wire.headers.priority).toBe("5");
    expect(wire.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const [, sig] = String(wire.headers["webhook-signature"]).split(",");
    const key = Buffer.from(rule.webhookSecret!.slice("whsec_".length), "base64");
    const expected = createHmac("sha256", key).update(`${wire.headers["webhook-id"]}.${wire.headers["webhook-timestamp"]}.${wire.body}`).digest("base64");
    expect(sig).toBe(expected);
    expect(wire.body).toBe(opened!.message);
  });

  it("sends to both channels of a rule that has both", async () => {
    const rule = await createAlertRule(t.db, admin, ruleInput({ webhookUrl: `${ntfy.base}/hooks-stand-in` }));
    await transitions(rule.id);
    const rows = await t.db.webhookDelivery.findMany({ orderBy: { channel: "asc" } });
    expect(rows.map((r) => [r.channel, r.url])).toEqual([
      ["ntfy", ntfy.topicUrl("phones")],
      ["webhook", `${ntfy.base}/hooks-stand-in`],
    ]);
    // The webhook body went to its own URL (a JSON POST the stand-in stores as text), the push to the topic.
    expect(ntfy.messages.map((m) => m.topic).sort()).toEqual(["hooks-stand-in", "phones"]);
  });

  it("treats a wrong token as final: no retry", async () => {
    const rule = await createAlertRule(t.db, admin, ruleInput({ ntfyToken: "tk_wrong" }));
    expect(await transitions(rule.id)).toEqual(["failed"]);
    const [row] = await t.db.webhookDelivery.findMany();
    expect(row).toMatchObject({ status: "failed", attempts: 1, lastStatus: 401 });
    expect(await ntfy.poll("phones")).toHaveLength(0);
  });

  it("follows the webhook's address rules", async () => {
    await expect(createAlertRule(t.db, admin, ruleInput({ ntfyUrl: "http://169.254.169.254/topic" }))).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(createAlertRule(t.db, admin, ruleInput({ ntfyUrl: "https://ntfy.example.com/" }))).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(createAlertRule(t.db, admin, ruleInput({ ntfyUrl: null }))).rejects.toMatchObject({ code: "BAD_REQUEST" }); // a token without a topic
    // A host name is checked on what it resolves to when the push is sent: localhost is loopback, refused without WEBHOOK_ALLOW_PRIVATE.
    const rule = await createAlertRule(t.db, admin, ruleInput({ ntfyUrl: ntfy.topicUrl("phones").replace("127.0.0.1", "localhost") }));
    expect(await transitions(rule.id, { allowPrivate: false })).toEqual(["failed"]);
    const [row] = await t.db.webhookDelivery.findMany();
    expect(row).toMatchObject({ status: "failed", attempts: 1, lastStatus: null });
    expect(row!.lastError).toMatch(/loopback or private/);
    expect(ntfy.publishes).toHaveLength(0);
  });

  it("never shows the token again; an edit keeps it unless it is replaced or removed", async () => {
    const rule = await createAlertRule(t.db, admin, ruleInput());
    const [listed] = await listAlertRules(t.db);
    expect(listed).toMatchObject({ ntfyUrl: ntfy.topicUrl("phones"), hasNtfyToken: true });
    expect(JSON.stringify(listed)).not.toContain(TOKEN);
    const { hasWebhookSecret: _h, hasNtfyToken: _n, id, createdAt: _c, updatedAt: _u, builtinKey: _b, ...fields } = listed!;
    await updateAlertRule(t.db, admin, id, { ...(fields as AlertRuleInput), threshold: 95, ntfyToken: undefined });
    expect((await t.db.alertRule.findUniqueOrThrow({ where: { id: rule.id } })).ntfyToken).toBe(TOKEN);
    await updateAlertRule(t.db, admin, id, { ...(fields as AlertRuleInput), ntfyToken: null });
    expect((await t.db.alertRule.findUniqueOrThrow({ where: { id: rule.id } })).ntfyToken).toBeNull();
    await updateAlertRule(t.db, admin, id, { ...(fields as AlertRuleInput), ntfyUrl: null, ntfyToken: undefined });
    expect(await t.db.alertRule.findUniqueOrThrow({ where: { id: rule.id } })).toMatchObject({ ntfyUrl: null, webhookSecret: null });
  });
});
