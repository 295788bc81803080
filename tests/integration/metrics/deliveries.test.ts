// Alert notifications survive restarts: every delivery (webhook and ntfy) is a
// row with its next attempt, and the background process's delivery worker
// sends the due ones. A delivery still pending when the process dies (here a
// real child process killed with SIGKILL after a failed first attempt) is sent
// after a restart, once, with the same webhook-id and a valid signature; two
// workers at once never send a delivery twice.
import { vi } from "vitest";
vi.hoisted(() => {
  // The stand-in receivers listen on loopback, which only this setting allows.
  process.env.WEBHOOK_ALLOW_PRIVATE = "true";
});
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabaseClient, type Db } from "~/server/db/client";
import { enqueueAlertNotifications, startDeliveries } from "~/server/metrics/alerts/deliveries";
import { createAlertRule } from "~/server/metrics/alerts/rules";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { startNtfyServer, type NtfyServer } from "../../support/ntfy-server";
import { PROVIDERS } from "../db/providers";

const child = path.join(import.meta.dirname, "deliveries-worker-child.ts");
const TOKEN = "tk_deliveries_test_token";

interface Hit {
  id: string;
  body: string;
  status: number;
  verified: boolean;
}

/** A webhook receiver that answers `status` and checks each signature with the rule's secret, as docs/webhooks.md says. */
async function startReceiver() {
  const hits: Hit[] = [];
  const state = { status: 200, secret: "" };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const id = String(req.headers["webhook-id"]);
      const key = Buffer.from(state.secret.replace(/^whsec_/, ""), "base64");
      const expected = createHmac("sha256", key).update(`${id}.${req.headers["webhook-timestamp"]}.${body}`).digest();
      const given = Buffer.from(String(req.headers["webhook-signature"]).split(",")[1] ?? "", "base64");
      hits.push({ id, body, status: state.status, verified: given.length === expected.length && timingSafeEqual(given, expected) });
      res.writeHead(state.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits, state, close: () => new Promise((r) => server.close(r)) };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the worker process; resolves (with the process in an object: a subprocess is itself a promise of its end) once it runs. */
function startWorkerProcess(url: string): Promise<{ proc: ResultPromise }> {
  const proc = execa(process.execPath, ["--import", "tsx", child, url], { reject: false });
  return new Promise((resolve, reject) => {
    proc.stdout!.on("data", (c: Buffer) => c.toString().includes("started") && resolve({ proc }));
    void proc.then((r) => reject(new Error(`worker exited early: ${r.stderr}`)));
  });
}

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  let t: TestDb;
  let admin: Actor;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let ntfy: NtfyServer;
  const extra: Db[] = [];

  beforeEach(async () => {
    t = await createTestDb({ provider });
    const u = await t.db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
    admin = { id: u.id, email: u.email, role: "ADMIN" };
    receiver = await startReceiver();
    ntfy = await startNtfyServer({ tokens: { ops: TOKEN } });
  });
  afterEach(async () => {
    for (const c of extra.splice(0)) await c.$disconnect();
    await receiver.close();
    await ntfy.close();
    await t.close();
  });

  /** A rule with both channels, an alert of it, and the deliveries of its opening. */
  async function openedAlert(n = 0) {
    const created = await createAlertRule(t.db, admin, {
      name: `Disk ${n}`,
      metric: "fsPct",
      comparison: "gte",
      threshold: 90,
      clearThreshold: 85,
      durationS: 60,
      scope: "host",
      severity: "CRITICAL",
      enabled: true,
      webhookUrl: receiver.url,
      ntfyUrl: ntfy.topicUrl("ops"),
      ntfyToken: TOKEN,
    });
    receiver.state.secret = created.webhookSecret!;
    const rule = await t.db.alertRule.findUniqueOrThrow({ where: { id: created.id } });
    const now = new Date();
    const alert = await t.db.alertInstance.create({
      data: { ruleId: rule.id, source: "host", severity: "CRITICAL", openedAt: now, openValue: 93, peakValue: 93, lastValue: 93 },
    });
    return enqueueAlertNotifications(t.db, rule, alert, "alert.opened", now);
  }
  const rows = () => t.db.webhookDelivery.findMany({ orderBy: { channel: "asc" } });

  it("sends a delivery left pending by a killed process after a restart, once", async () => {
    const ids = await openedAlert();
    expect(ids).toHaveLength(2);
    receiver.state.status = 503;
    ntfy.failNext(503, 1);

    const { proc: first } = await startWorkerProcess(t.url);
    await until(async () => (await rows()).every((r) => r.attempts === 1));
    first.kill("SIGKILL");
    await first;
    expect((await rows()).map((r) => [r.channel, r.status, r.attempts])).toEqual([
      ["ntfy", "pending", 1],
      ["webhook", "pending", 1],
    ]);

    // Nothing is sent while no process runs, though the retry is due.
    receiver.state.status = 200;
    await sleep(800);
    expect(receiver.hits).toHaveLength(1);
    expect(ntfy.publishes).toHaveLength(1);

    const { proc: second } = await startWorkerProcess(t.url);
    await until(async () => (await rows()).every((r) => r.status === "delivered"));
    await sleep(800); // long past the next retry: nothing more is sent
    second.kill("SIGTERM");
    expect((await second).exitCode).toBe(0);

    expect(receiver.hits.map((h) => h.status)).toEqual([503, 200]);
    expect(receiver.hits.map((h) => h.id)).toEqual([ids[0], ids[0]]); // the webhook row, written first
    expect(receiver.hits.every((h) => h.verified)).toBe(true);
    expect(JSON.parse(receiver.hits[1]!.body)).toMatchObject({ event: "alert.opened", alert: { severity: "critical", value: 93 } });
    expect(ntfy.publishes.map((p) => p.status)).toEqual([503, 200]);
    const [message, ...more] = await ntfy.poll("ops");
    expect(more).toHaveLength(0);
    expect(message).toMatchObject({ topic: "ops", title: "Critical: Disk 0", priority: 5, tags: ["rotating_light", "critical", "fsPct"] });
    expect((await rows()).map((r) => [r.channel, r.status, r.attempts])).toEqual([
      ["ntfy", "delivered", 2],
      ["webhook", "delivered", 2],
    ]);
  });

  it("two workers at once send every delivery exactly once", async () => {
    for (let i = 0; i < 4; i++) await openedAlert(i);
    const other = createDatabaseClient(t.url);
    extra.push(other);
    const workers = [startDeliveries(t.db, { pollMs: 20 }), startDeliveries(other, { pollMs: 20 })];
    await until(async () => (await rows()).every((r) => r.status === "delivered"));
    await sleep(200);
    for (const w of workers) await w.stop();
    expect(receiver.hits).toHaveLength(4);
    expect(new Set(receiver.hits.map((h) => h.id)).size).toBe(4);
    expect(ntfy.messages).toHaveLength(4);
  });

  it("stops at a refusal and after the last attempt", async () => {
    await openedAlert();
    receiver.state.status = 410; // the receiver refuses this body: never retried
    ntfy.failNext(500, 10); // a server error: retried until the attempts run out
    const worker = startDeliveries(t.db, { pollMs: 20, baseDelayMs: 10, maxAttempts: 3 });
    await until(async () => (await rows()).every((r) => r.status === "failed"));
    await worker.stop();
    expect((await rows()).map((r) => [r.channel, r.attempts, r.lastStatus])).toEqual([
      ["ntfy", 3, 500],
      ["webhook", 1, 410],
    ]);
  });
});
