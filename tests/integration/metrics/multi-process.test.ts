// Several app processes on one PostgreSQL database, as deployed: two background
// processes on this host and one web-only process (BACKGROUND_SERVICES=false),
// each a real Node process running the app's own start-up
// (tests/support/background-process.ts), with the stand-in vagrant and
// libvirt's test driver. Exactly one of them samples and evaluates alerts: one
// alert opens once and its webhook reaches a receiver once. "Collect now" in the
// web-only process is carried out by the sampling process. SIGKILL the sampling
// process and the other background process takes over within 30 s, with the
// default lease settings, without opening the alert again. Which process wrote
// each reading and each alert is told by PostgreSQL itself: every child connects
// with its own application_name (PGAPPNAME), and a trigger in the test database
// records it for every row inserted.
import { fork, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { samplerLeaseName } from "~/server/metrics/sampler";
import { createTestDb, postgresAvailable, type TestDb } from "../../support/db";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const SCRIPT = path.join(ROOT, "tests/support/background-process.ts");
const HOST = "multi-process-test-host";
const INTERVAL_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface App {
  name: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<void>;
  request(cmd: "collectNow"): Promise<{ ts?: number; written?: number; sources?: string[]; error?: string }>;
}

function startApp(name: string, databaseUrl: string, extra: Record<string, string>): Promise<App> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `twarga-mp-${name}-`));
  const child = fork(SCRIPT, [], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "production",
      AUTH_SECRET: "multi-process-test-secret-0123456789abcdefghij",
      AUTH_URL: "http://localhost:3999",
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      LOCAL_IDP: "off",
      SSHD_LOG_FOLLOW: "false",
      VAGRANT_BIN: path.join(ROOT, "tests/support/fake-vagrant/vagrant"),
      VM_DRIVER: "qemu",
      LIBVIRT_URI: "test:///default",
      VM_STATE_FROM_LIBVIRT: "false",
      VM_SSH_PORT_RANGE: "off",
      HOST_ID: HOST,
      SAMPLER_INTERVAL_MS: String(INTERVAL_MS),
      WEBHOOK_ALLOW_PRIVATE: "true",
      PGAPPNAME: name,
      ...extra,
    },
  });
  const output: string[] = [];
  child.stdout!.on("data", (d: Buffer) => output.push(d.toString()));
  child.stderr!.on("data", (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let nextId = 1;
  const app: App = {
    name,
    child,
    output,
    exited,
    request(cmd) {
      const id = nextId++;
      return new Promise((resolve) => {
        const onMessage = (m: { type?: string; id?: number }) => {
          if (m?.type !== "collected" || m.id !== id) return;
          child.off("message", onMessage);
          resolve(m as never);
        };
        child.on("message", onMessage);
        child.send({ cmd, id });
      });
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output.join("")}`)), 90_000);
    child.on("message", (m: { type?: string }) => {
      if (m?.type === "started") {
        clearTimeout(timer);
        resolve(app);
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited (${code}) while starting:\n${output.join("")}`)));
  });
}

describe.skipIf(!postgresAvailable())("one sampler and one alert evaluator per host, across processes (PostgreSQL)", () => {
  let t: TestDb;
  let receiver: Server;
  const deliveries: { event: string; alertId: string }[] = [];
  const apps: App[] = [];
  let ruleId = "";

  beforeAll(async () => {
    t = await createTestDb({ provider: "postgresql" });
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const parsed = JSON.parse(body) as { event?: string; alert?: { id?: string } }; // docs/webhooks.md
        deliveries.push({ event: parsed.event ?? "?", alertId: parsed.alert?.id ?? "?" });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const { port } = receiver.address() as { port: number };
    // Always past its threshold on any host: it opens after 1 s and never resolves while readings come.
    const rule = await t.db.alertRule.create({
      data: {
        name: "memory exists",
        metric: "memTotalBytes",
        comparison: "gte",
        threshold: 1,
        clearThreshold: 0,
        durationS: 1,
        scope: "host",
        webhookUrl: `http://127.0.0.1:${port}/hook`,
      },
    });
    ruleId = rule.id;
    // Test-only bookkeeping in this throwaway database: who inserted each reading and alert.
    for (const sql of [
      `CREATE TABLE "TestWriter" ("table" TEXT NOT NULL, "key" TEXT NOT NULL, "app" TEXT NOT NULL)`,
      `CREATE FUNCTION test_writer_sample() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO "TestWriter" VALUES ('MetricSample', NEW."source" || '@' || NEW."ts", current_setting('application_name')); RETURN NEW; END $$`,
      `CREATE FUNCTION test_writer_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO "TestWriter" VALUES ('AlertInstance', NEW."id", current_setting('application_name')); RETURN NEW; END $$`,
      `CREATE TRIGGER test_writer_sample AFTER INSERT ON "MetricSample" FOR EACH ROW EXECUTE FUNCTION test_writer_sample()`,
      `CREATE TRIGGER test_writer_alert AFTER INSERT ON "AlertInstance" FOR EACH ROW EXECUTE FUNCTION test_writer_alert()`,
    ])
      await t.db.$executeRawUnsafe(sql);
  }, 60_000);

  afterAll(async () => {
    for (const a of apps) a.child.kill("SIGKILL");
    await Promise.all(apps.map((a) => a.exited));
    await new Promise((r) => receiver?.close(r));
    await t?.close();
  });

  const lease = () => t.db.serviceLease.findUnique({ where: { name: samplerLeaseName(HOST) } });
  const pidOf = (holder: string) => Number(holder.split(":")[1]);
  async function until<T>(check: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${apps.map((a) => `--- ${a.name}\n${a.output.join("").slice(-3000)}`).join("\n")}`);
      await sleep(100);
    }
  }
  /** Which processes inserted rows into `table` (by application_name). */
  const writers = async (table: string) =>
    (await t.db.$queryRawUnsafe<{ app: string }[]>(`SELECT DISTINCT "app" FROM "TestWriter" WHERE "table" = $1 ORDER BY "app"`, table)).map((r) => r.app);
  const writerOf = async (key: string) =>
    (await t.db.$queryRawUnsafe<{ app: string }[]>(`SELECT "app" FROM "TestWriter" WHERE "key" = $1`, key)).map((r) => r.app);

  /** Host rows written in [from, to): one sampler writes one per interval, two would write about twice as many. */
  const hostTicks = async (from: number, to: number) =>
    (await t.db.metricSample.findMany({ where: { source: "host", ts: { gte: BigInt(from), lt: BigInt(to) } }, orderBy: { ts: "asc" } })).map((r) =>
      Number(r.ts),
    );

  it("samples once per host, opens the alert once with one webhook, collects on request from the web-only process, and survives a SIGKILL", async () => {
    // Started one after the other: each compiles the app through tsx, and the machine has two cores.
    apps.push(await startApp("background-a", t.url, {}));
    apps.push(await startApp("background-b", t.url, {}));
    apps.push(await startApp("web-only", t.url, { BACKGROUND_SERVICES: "false" }));
    const [a, b, web] = apps as [App, App, App];

    const held = await until(lease, 30_000, "a sampler lease");
    const sampler = [a, b].find((x) => x.child.pid === pidOf(held.holder))!;
    const standby = sampler === a ? b : a;
    expect(sampler, `holder ${held.holder} is one of the background processes`).toBeDefined();

    // One alert, opened once, one webhook delivered.
    const alert = await until(() => t.db.alertInstance.findFirst({ where: { ruleId } }), 30_000, "the alert to open");
    await until(async () => deliveries.length > 0 && deliveries, 30_000, "the webhook");

    // Five seconds of sampling: one host row per interval, not two.
    const from = Date.now();
    await sleep(5_000);
    const ticks = await hostTicks(from, Date.now());
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBeGreaterThan(INTERVAL_MS / 2);
    expect((await lease())?.holder).toBe(held.holder); // the standby never took it
    expect(standby.output.join("")).not.toMatch(/holding the lease/);

    // "Collect now" in the web-only process: the sampling process collects (that it does so at once, on a
    // notification, is in leases.test.ts, where no scheduled tick competes), the web process samples nothing.
    const asked = Date.now();
    const collected = await web.request("collectNow");
    expect(collected.error).toBeUndefined();
    expect(collected.ts).toBeGreaterThanOrEqual(asked);
    expect(collected.written).toBeGreaterThan(0);
    expect(collected.sources).toContain("host");
    expect(web.output.join("")).not.toMatch(/holding the lease/);
    expect(await writerOf(`host@${collected.ts}`)).toEqual([sampler.name]);
    expect(await writers("MetricSample")).toEqual([sampler.name]);
    expect(await writers("AlertInstance")).toEqual([sampler.name]);
    const hostRow = await t.db.metricSample.findUnique({ where: { source_ts: { source: "host", ts: BigInt(collected.ts!) } } });
    expect(hostRow?.memTotalBytes).toBeGreaterThan(0);

    // The sampling process dies without a word.
    const killedAt = Date.now();
    sampler.child.kill("SIGKILL");
    await sampler.exited;
    const taken = await until(
      async () => {
        const l = await lease();
        return l && l.holder !== held.holder && l;
      },
      40_000,
      "the standby to take the lease",
    );
    const takeoverMs = Date.now() - killedAt;
    console.log(`[multi-process] takeover after SIGKILL: ${(takeoverMs / 1000).toFixed(1)} s (SERVICE_LEASE_TTL_S default)`);
    expect(pidOf(taken.holder)).toBe(standby.child.pid);
    expect(takeoverMs).toBeLessThan(30_000);

    // The new sampler samples, one row per interval again.
    const after = Date.now();
    await until(async () => (await hostTicks(after, Date.now() + 1)).length >= 3 || null, 15_000, "the new sampler's ticks");
    const newTicks = await hostTicks(after, Date.now() + 1);
    for (let i = 1; i < newTicks.length; i++) expect(newTicks[i]! - newTicks[i - 1]!).toBeGreaterThan(INTERVAL_MS / 2);
    // "Collect now" now reaches the new sampler.
    const again = await web.request("collectNow");
    expect(again.error).toBeUndefined();
    expect(again.written).toBeGreaterThan(0);
    expect(await writerOf(`host@${again.ts}`)).toEqual([standby.name]);
    expect(await writers("MetricSample")).toEqual([a.name, b.name]); // the web-only process never sampled

    // The alert was neither opened again nor notified again by the new evaluator.
    await sleep(2_000);
    expect(await t.db.alertInstance.findMany({ where: { ruleId } })).toEqual([expect.objectContaining({ id: alert.id, resolvedAt: null })]);
    expect(await t.db.event.count({ where: { action: "alert.open" } })).toBeLessThanOrEqual(
      await t.db.alertInstance.count(), // one event per alert ever opened (the default rules may open their own on a busy host)
    );
    expect(deliveries).toEqual([{ event: "alert.opened", alertId: alert.id }]);
    expect(await writerOf(alert.id)).toEqual([sampler.name]);
  }, 240_000);
});
