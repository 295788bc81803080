// /api/metrics end to end: the route handler behind a real HTTP server, fed by
// real sampler ticks (the real host collector reading /proc; VM readings from
// a stand-in source shaped like the hypervisor's, whose counters advance with
// time as a busy guest's would), checked by `promtool check metrics` and
// scraped by a real Prometheus server with an API token, which computes rates
// from the counters.
import { signedIn } from "../../support/signed-in";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "~/server/permissions";
import type { Sampler } from "~/server/metrics/sampler";
import { createTestDb, type TestDb } from "../../support/db";
import { freePort, promtoolCheckMetrics, startPrometheus, type RunningPrometheus } from "../../support/prometheus";

let t: TestDb;
let server: Server;
let base: string;
let adminToken: string, bobToken: string, eventsOnlyToken: string;
let bobVm: string, aliceVm: string;
let prom: RunningPrometheus | null = null;
let sampler: Sampler | null = null;

async function mkUser(email: string, role: "ADMIN" | "USER"): Promise<Actor> {
  const u = await t.db.user.create({ data: { email, role } });
  return { id: u.id, email, role };
}

beforeAll(async () => {
  t = await createTestDb();
  signedIn.db = t.db;
  const { createApiToken } = await import("~/server/auth/api-tokens");
  const { startSampler } = await import("~/server/metrics/sampler");
  const { createHostCollector } = await import("~/server/metrics/collectors/host");
  const { createVmCollector } = await import("~/server/metrics/collectors/vms");
  const admin = await mkUser("admin@example.com", "ADMIN");
  const bob = await mkUser("bob@example.com", "USER");
  const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
  const vm = (name: string, ownerId: string) =>
    t.db.vm.create({ data: { name, activeName: name, ownerId, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state: "RUNNING" } });
  bobVm = (await vm("bob-web", bob.id)).id;
  aliceVm = (await vm("admin-db", admin.id)).id;
  adminToken = (await createApiToken(t.db, admin, { label: "prometheus", scopes: ["metrics:read", "admin"], expiresInDays: 1 })).token;
  bobToken = (await createApiToken(t.db, bob, { label: "prometheus", scopes: ["metrics:read"], expiresInDays: 1 })).token;
  eventsOnlyToken = (await createApiToken(t.db, bob, { label: "events", scopes: ["events:read"], expiresInDays: 1 })).token;
  // Counters since an hour before the first reading, advancing as a guest busy at 12.5 % of a vCPU,
  // reading 4 KiB/s, writing 10 kB/s, receiving 2000 B/s and sending 500 B/s would.
  const bootedAt = Date.now() - 3_600_000;
  const vmReadings = {
    read: async (nowMs: number) => {
      const upS = (nowMs - bootedAt) / 1000;
      return [bobVm, aliceVm].map((vmId) => ({
        vmId,
        status: "ok" as const,
        cpuPct: 12.5,
        memUsedBytes: 300 * 2 ** 20,
        memAvailableBytes: 212 * 2 ** 20,
        rssBytes: 520 * 2 ** 20,
        diskReadBps: 4096,
        diskWriteBps: 10_000,
        netRxBps: 2000,
        netTxBps: 500,
        counters: {
          cpuSeconds: upS * 0.125,
          diskReadBytes: upS * 4096,
          diskWrittenBytes: upS * 10_000,
          netReceiveBytes: upS * 2000,
          netTransmitBytes: upS * 500,
        },
      }));
    },
  };
  // Started (not just built) so the scrape sees this process's sampler counters; the hour-long interval leaves the ticks to the test.
  sampler = startSampler({
    db: t.db,
    intervalMs: 3_600_000,
    collectors: [createHostCollector(), createVmCollector(vmReadings)],
    alerts: null,
    retentionIntervalMs: null,
  });
  // Two ticks apart, so the host's CPU share covers some jiffies.
  await sampler.tick();
  await new Promise((r) => setTimeout(r, 300));
  await sampler.tick();

  const { GET } = await import("~/app/api/metrics/route");
  server = createServer((req, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    void GET(new Request(`http://${req.headers.host}${req.url}`, { headers })).then(async (r) => {
      res.writeHead(r.status, Object.fromEntries(r.headers));
      res.end(await r.text());
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  base = `127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  await sampler?.stop();
  await new Promise((r) => server?.close(r));
  await t?.close();
});

const scrape = (token?: string, query = "") => fetch(`http://${base}/api/metrics${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("GET /api/metrics", () => {
  it("needs a bearer token with the metrics:read scope, never one in the URL", async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape(eventsOnlyToken)).status).toBe(401);
    expect((await scrape(undefined, `?access_token=${adminToken}`)).status).toBe(401);
    expect((await scrape(adminToken)).status).toBe(200);
  });

  it("serves text format 0.0.4 that promtool accepts, in base units, with VM labels", async () => {
    const res = await scrape(adminToken);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const check = promtoolCheckMetrics(text);
    expect(check.output).toBe("");
    expect(check.status).toBe(0);
    expect(text).toMatch(/^twarga_host_memory_total_bytes \d+$/m);
    expect(text).toMatch(/^twarga_host_filesystem_size_bytes\{mountpoint="\/[^"]*"\} \d+$/m);
    expect(text).toContain(`twarga_vm_memory_used_bytes{vm_id="${bobVm}",vm_name="bob-web",owner_email="bob@example.com"} ${300 * 2 ** 20}\n`);
    // Counters, with the time of the tick that read them (ms).
    const tickTs = sampler!.stats().lastTickAt!;
    for (const mode of ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"])
      expect(text).toMatch(new RegExp(`^twarga_host_cpu_seconds_total\\{mode="${mode}"\\} \\d+(\\.\\d+)? ${tickTs}$`, "m"));
    expect(text).toMatch(new RegExp(`^twarga_host_network_receive_bytes_total\\{interface="[^"]+"\\} \\d+ ${tickTs}$`, "m"));
    expect(text).toMatch(new RegExp(`^twarga_host_disk_read_bytes_total\\{device="[^"]+"\\} \\d+ ${tickTs}$`, "m"));
    const upS = (tickTs - (Date.now() - 3_600_000)) / 1000;
    const vmCpu = new RegExp(
      `^twarga_vm_cpu_seconds_total\\{vm_id="${bobVm}",vm_name="bob-web",owner_email="bob@example.com"\\} ([\\d.]+) ${tickTs}$`,
      "m",
    ).exec(text);
    expect(Number(vmCpu?.[1])).toBeCloseTo(upS * 0.125, 0);
    for (const name of ["disk_read_bytes", "disk_written_bytes", "network_receive_bytes", "network_transmit_bytes"])
      expect(text).toMatch(
        new RegExp(`^twarga_vm_${name}_total\\{vm_id="${bobVm}",vm_name="bob-web",owner_email="bob@example.com"\\} [\\d.]+ ${tickTs}$`, "m"),
      );
    expect(text).toMatch(/^# TYPE twarga_vm_cpu_seconds_total counter$/m);
    expect(text).toMatch(/^twarga_sampler_tick_duration_seconds \d/m);
    expect(text).toMatch(/^twarga_sampler_last_sample_age_seconds \d/m);
    expect(text).toMatch(/^twarga_alerts_open 0$/m);
    expect(text).toMatch(/^twarga_jobs\{state="queued"\} 0$/m);
    // No rates or shares computed by us: the stored per-second figures and CPU percentages are not exposed.
    expect(text).not.toMatch(/per_second|_bps|_ratio|_pct/);
  });

  it("shows a user only their own VMs and none of the app's internals", async () => {
    const text = await (await scrape(bobToken)).text();
    expect(text).toContain(`vm_id="${bobVm}"`);
    expect(text).not.toContain(aliceVm);
    expect(text).not.toContain("twarga_sampler_");
    expect(text).not.toContain("twarga_jobs");
  });

  it("is scraped by a real Prometheus with the token; PromQL returns the host's CPU seconds, the VM's series with its labels, and rates from the counters", async () => {
    prom = await startPrometheus({ target: base, metricsPath: "/api/metrics", bearerToken: adminToken });
    type Result = Awaited<ReturnType<RunningPrometheus["query"]>>;
    const deadline = Date.now() + 40_000;
    let vmCpuRate: Result = [];
    let netRate: Result = [];
    // The sampler ticks every second meanwhile (its own timer is an hour), so the counters advance between scrapes.
    while (Date.now() < deadline) {
      await sampler!.tick();
      vmCpuRate = await prom.query(`rate(twarga_vm_cpu_seconds_total{vm_name="bob-web"}[1m])`);
      netRate = await prom.query("rate(twarga_host_network_receive_bytes_total[1m])");
      if (vmCpuRate.length > 0 && netRate.length > 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect((await prom.targets()).map((x) => [x.health, x.lastError])).toEqual([["up", ""]]);
    const cpu = await prom.query("twarga_host_cpu_seconds_total");
    expect(cpu.map((s) => s.metric.mode).sort()).toEqual(["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]);
    expect(cpu[0]!.metric).toMatchObject({ __name__: "twarga_host_cpu_seconds_total", job: "twarga", instance: base });
    const vmMem = await prom.query(`twarga_vm_memory_used_bytes{vm_name="bob-web"}`);
    expect(vmMem).toHaveLength(1);
    expect(vmMem[0]!.metric).toMatchObject({ vm_id: bobVm, vm_name: "bob-web", owner_email: "bob@example.com" });
    expect(Number(vmMem[0]!.value[1])).toBe(300 * 2 ** 20);
    const vmNet = await prom.query(`twarga_vm_network_receive_bytes_total{vm_name="bob-web"}`);
    expect(vmNet).toHaveLength(1);
    expect(vmNet[0]!.metric).toMatchObject({
      __name__: "twarga_vm_network_receive_bytes_total",
      vm_id: bobVm,
      vm_name: "bob-web",
      owner_email: "bob@example.com",
    });
    // Prometheus' own rates over the tick-stamped counters. rate() over a window the few samples do not
    // fill yet is extrapolated, so the exact figure is checked with irate() (the last two samples):
    // the guest's 12.5 % of a vCPU and its 2000 B/s, and the host interfaces' real traffic.
    expect(vmCpuRate).toHaveLength(1);
    expect(vmCpuRate[0]!.metric).toMatchObject({ vm_id: bobVm, vm_name: "bob-web", owner_email: "bob@example.com" });
    expect(Number(vmCpuRate[0]!.value[1])).toBeGreaterThan(0);
    const vmCpuNow = await prom.query(`irate(twarga_vm_cpu_seconds_total{vm_name="bob-web"}[1m])`);
    expect(Number(vmCpuNow[0]!.value[1])).toBeCloseTo(0.125, 6);
    const vmNetNow = await prom.query(`irate(twarga_vm_network_receive_bytes_total{vm_name="bob-web"}[1m])`);
    expect(Number(vmNetNow[0]!.value[1])).toBeCloseTo(2000, 3);
    // The README's busy-share expression for Grafana.
    const busy = await prom.query(`sum without (mode) (rate(twarga_host_cpu_seconds_total{mode!~"idle|iowait"}[5m])) / twarga_host_cpus`);
    expect(busy).toHaveLength(1);
    expect(Number(busy[0]!.value[1])).toBeGreaterThanOrEqual(0);
    expect(Number(busy[0]!.value[1])).toBeLessThanOrEqual(1);
    expect(netRate.length).toBeGreaterThan(0);
    for (const s of netRate) {
      expect(s.metric.interface).toBeTruthy();
      expect(Number(s.value[1])).toBeGreaterThanOrEqual(0);
    }
  }, 90_000);

  it("METRICS_LISTEN serves the same text without a token, on loopback addresses only", async () => {
    const { parseEnv } = await import("~/server/env");
    const { startMetricsListener } = await import("~/server/metrics/exposition");
    expect(() => parseEnv({ ...process.env, METRICS_LISTEN: "0.0.0.0:9464" })).toThrow(/METRICS_LISTEN/);
    expect(() => parseEnv({ ...process.env, METRICS_LISTEN: "192.168.1.5:9464" })).toThrow(/METRICS_LISTEN/);
    expect(parseEnv({ ...process.env, METRICS_LISTEN: "127.0.0.1:9464" }).METRICS_LISTEN).toBe("127.0.0.1:9464");
    const listener = await startMetricsListener(t.db, `127.0.0.1:${await freePort()}`);
    try {
      const res = await fetch(`http://${listener.address}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const text = await res.text();
      expect(promtoolCheckMetrics(text).status).toBe(0);
      expect(text).toContain(`vm_id="${bobVm}"`);
      expect(text).toContain(`vm_id="${aliceVm}"`);
      expect(text).toMatch(/^twarga_host_memory_total_bytes \d+/m);
      expect((await fetch(`http://${listener.address}/other`)).status).toBe(404);
    } finally {
      await listener.stop();
    }
  });

  it.skipIf(!process.env.TEST_POSTGRES_URL)("reads the newest rows on PostgreSQL too", async () => {
    const pgDb = await createTestDb({ provider: "postgresql" });
    try {
      const { writeTick } = await import("~/server/metrics/store");
      const { metricsExposition } = await import("~/server/metrics/exposition");
      const u = await pgDb.db.user.create({ data: { email: "root@example.com", role: "ADMIN" } });
      const now = Date.now();
      await writeTick(pgDb.db, now - 60_000, [{ source: "host", values: { memTotalBytes: 1000, swapUsedBytes: 10 } }]);
      await writeTick(pgDb.db, now - 5_000, [{ source: "host", values: { memTotalBytes: 2048, swapUsedBytes: 50 } }]);
      const text = await metricsExposition(pgDb.db, { id: u.id, email: u.email, role: "ADMIN" }, now);
      expect(text).toMatch(/^twarga_host_memory_total_bytes 2048$/m);
      expect(text).toMatch(/^twarga_host_swap_used_bytes 50$/m);
      expect(text).toMatch(/^twarga_sampler_last_sample_age_seconds 5$/m);
      expect(promtoolCheckMetrics(text).status).toBe(0);
    } finally {
      await pgDb.close();
    }
  });
});
