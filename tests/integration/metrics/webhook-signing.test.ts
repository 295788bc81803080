// Webhook deliveries are signed the Standard Webhooks way, and a receiver
// written from docs/webhooks.md (below, with node:crypto only) accepts them,
// and refuses a replay (an old webhook-timestamp) and a tampered body. The
// secret is shown once, can be rotated, and the URL may not reach loopback,
// link-local or the metadata address unless the settings say so, checked on
// the address the name resolves to when each delivery is sent.
import { vi } from "vitest";
vi.hoisted(() => {
  // The receivers in this file listen on loopback, which only this setting allows
  // (the refusals below pass allowPrivate: false to the delivery itself).
  process.env.WEBHOOK_ALLOW_PRIVATE = "true";
});
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlertEvaluator } from "~/server/metrics/alerts/evaluator";
import { createAlertRule, listAlertRules, rotateWebhookSecret, updateAlertRule, type AlertRuleInput } from "~/server/metrics/alerts/rules";
import { deliverWebhook, type DeliveryOptions } from "~/server/metrics/alerts/webhook";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";

/** The receiver's check, as docs/webhooks.md describes it. */
function verify(secret: string, headers: http.IncomingHttpHeaders, body: string, nowS: number, toleranceS = 300): string | null {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (typeof id !== "string" || typeof timestamp !== "string" || typeof signatures !== "string") return "missing headers";
  if (!/^\d+$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) > toleranceS) return "timestamp outside the tolerance";
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  for (const candidate of signatures.split(" ")) {
    const [version, sig] = candidate.split(",");
    const given = Buffer.from(sig ?? "", "base64");
    if (version === "v1" && given.length === expected.length && timingSafeEqual(given, expected)) return null;
  }
  return "bad signature";
}

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  verdict: string | null;
}

let t: TestDb;
let admin: Actor;
let server: http.Server;
let url: string;
let secret = "";
let receiverNowS = () => Math.floor(Date.now() / 1000);
const received: Received[] = [];

beforeEach(async () => {
  t = await createTestDb();
  const u = await t.db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
  admin = { id: u.id, email: u.email, role: "ADMIN" };
  received.length = 0;
  receiverNowS = () => Math.floor(Date.now() / 1000);
  server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      const verdict = verify(secret, req.headers, body, receiverNowS());
      received.push({ headers: req.headers, body, verdict });
      res.writeHead(verdict ? 401 : 204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterEach(async () => {
  await new Promise((r) => server.close(r));
  await t.close();
});

const T0 = Date.UTC(2026, 10, 30, 3, 0, 0);
const ruleInput = (webhookUrl: string | null): AlertRuleInput => ({
  name: "Disk",
  metric: "fsPct",
  comparison: "gte",
  threshold: 90,
  clearThreshold: 85,
  durationS: 0,
  scope: "host",
  severity: "WARNING",
  enabled: true,
  webhookUrl,
});
const local: DeliveryOptions = { maxAttempts: 2, sleep: async () => {} }; // allowPrivate from WEBHOOK_ALLOW_PRIVATE

async function fire(opts: DeliveryOptions, fsPct = 95, at = T0) {
  const ev = new AlertEvaluator({ deliver: (db, id) => deliverWebhook(db, id, opts) });
  await ev.evaluate(t.db, [{ source: "host", values: { fsPct } }], at);
  await ev.idle();
  return ev;
}

/** Sends a captured request again, as an attacker replaying it would. */
function resend(r: Received, body = r.body) {
  return new Promise<number>((resolve, reject) => {
    const { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature } = r.headers as Record<string, string>;
    const headers = { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature };
    const req = http.request(url, { method: "POST", headers }, (res) => (res.resume(), resolve(res.statusCode!)));
    req.on("error", reject);
    req.end(body);
  });
}

describe("signed deliveries", () => {
  it("verify at the receiver, and a replay or a tampered body is refused", async () => {
    const created = await createAlertRule(t.db, admin, ruleInput(url));
    expect(created.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    secret = created.webhookSecret!;

    await fire(local);
    expect(received).toHaveLength(1);
    const first = received[0]!;
    expect(first.verdict).toBeNull();
    const delivery = await t.db.webhookDelivery.findFirstOrThrow();
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, lastStatus: 204 });
    expect(first.headers["webhook-id"]).toBe(delivery.id);
    expect(Math.abs(Number(first.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(first.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(JSON.parse(first.body)).toMatchObject({ event: "alert.opened", deliveryId: delivery.id });

    // The same request ten minutes later: the timestamp is outside the receiver's tolerance.
    receiverNowS = () => Math.floor(Date.now() / 1000) + 600;
    expect(await resend(first)).toBe(401);
    expect(received.at(-1)!.verdict).toBe("timestamp outside the tolerance");
    receiverNowS = () => Math.floor(Date.now() / 1000);
    // A body changed on the way, under the original headers.
    const tampered = first.body.replace('"severity":"warning"', '"severity":"critical"');
    expect(tampered).not.toBe(first.body);
    expect(await resend(first, tampered)).toBe(401);
    expect(received.at(-1)!.verdict).toBe("bad signature");
    // The untouched request still verifies within the tolerance: the refusals above were for cause.
    expect(await resend(first)).toBe(204);
  });

  it("show the secret once, keep it out of the rule list, and sign with a rotated one from then on", async () => {
    const created = await createAlertRule(t.db, admin, ruleInput(url));
    const listed = await listAlertRules(t.db);
    expect(listed[0]).toMatchObject({ id: created.id, hasWebhookSecret: true });
    expect(JSON.stringify(listed)).not.toContain(created.webhookSecret!);
    // Editing the rule keeps the secret and does not hand it out again.
    const edited = await updateAlertRule(t.db, admin, created.id, { ...ruleInput(url), name: "Disk full" });
    expect(edited).not.toHaveProperty("webhookSecret");

    const rotated = await rotateWebhookSecret(t.db, admin, created.id);
    expect(rotated.webhookSecret).toMatch(/^whsec_/);
    expect(rotated.webhookSecret).not.toBe(created.webhookSecret);
    expect(await t.db.event.count({ where: { action: "alert_rule.rotate_secret" } })).toBe(1);
    const user: Actor = { id: "u", email: "u@example.com", role: "USER" };
    await expect(rotateWebhookSecret(t.db, user, created.id)).rejects.toMatchObject({ code: "FORBIDDEN" });

    secret = created.webhookSecret!; // the receiver still has the old one
    await fire(local);
    expect(received.map((r) => r.verdict)).toEqual(["bad signature"]);
    secret = rotated.webhookSecret;
    expect(await resend(received[0]!)).toBe(204);
  });
});

describe("where a webhook may go", () => {
  const attempt = async (target: string, allowPrivate: boolean) => {
    await t.db.alertRule.deleteMany();
    await t.db.alertRule.create({ data: { ...ruleInput(target), webhookSecret: "whsec_" + Buffer.alloc(32, 1).toString("base64") } });
    await fire({ allowPrivate, maxAttempts: 3, sleep: async () => {} });
    return t.db.webhookDelivery.findFirstOrThrow({ orderBy: { createdAt: "desc" } });
  };

  it("refuses loopback by default, by address and by a name that resolves to it, without retrying", async () => {
    const port = (server.address() as AddressInfo).port;
    for (const target of [url, `http://localhost:${port}/hook`, `http://[::1]:${port}/hook`, `http://127.0.0.2:${port}/hook`]) {
      const d = await attempt(target, false);
      expect(d, target).toMatchObject({
        status: "failed",
        attempts: 1,
        lastStatus: null,
        lastError: expect.stringMatching(/refused: .*loopback or private.*WEBHOOK_ALLOW_PRIVATE/),
      });
    }
    expect(received).toEqual([]);
  });

  it("always refuses link-local and the metadata address, even with private receivers allowed", async () => {
    for (const target of ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://0.0.0.0/"]) {
      const d = await attempt(target, true);
      expect(d, target).toMatchObject({ status: "failed", attempts: 1, lastError: expect.stringMatching(/refused: .*(link-local|metadata|unspecified)/) });
    }
  });

  it("reaches a local receiver when private receivers are allowed", async () => {
    secret = "whsec_" + Buffer.alloc(32, 1).toString("base64");
    const d = await attempt(`http://localhost:${(server.address() as AddressInfo).port}/hook`, true);
    expect(d).toMatchObject({ status: "delivered", lastStatus: 204 });
    expect(received.map((r) => r.verdict)).toEqual([null]);
  });

  it("refuses a literal link-local or metadata URL when the rule is saved", async () => {
    await expect(createAlertRule(t.db, admin, ruleInput("http://169.254.169.254/"))).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("not allowed"),
    });
    await expect(createAlertRule(t.db, admin, ruleInput("http://[fe80::1]:8080/hook"))).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});
