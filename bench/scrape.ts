// npm run bench:scrape [-- <scrapes>]
// Times GET /api/metrics in-process (bearer-token check plus exposition) with
// 20 running VMs whose samples fill one hour of 5-second ticks, on a SQLite
// file migrated like the app's. A scrape only reads what the sampler wrote and
// the counters it published on its lease; nothing here runs a collector. The
// sampler is another process here, as it is for a web-only replica (the
// dearer path: its counters come from the lease row, not from memory). The
// last line is JSON for machines.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Reading } from "../src/server/metrics/collectors/types";
import { renewLease, tryAcquireLease } from "../src/server/leases";
import { createSampler, percentile, samplerLeaseName } from "../src/server/metrics/sampler";
import { fsSource, HOST_SOURCE, netSource, vmSource } from "../src/server/metrics/sources";
import { writeTick } from "../src/server/metrics/store";

const SCRAPES = Number(process.argv[2] ?? process.env.BENCH_SCRAPES ?? 500);
const WARMUP = 50;
const VMS = 20;
const INTERVAL_MS = 5000;
const HISTORY_TICKS = 720; // one hour

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-bench-scrape-"));
  const url = `file:${path.join(dir, "bench.db")}`;
  process.env.DATABASE_URL = url;
  process.env.SAMPLER_INTERVAL_MS = String(INTERVAL_MS);
  const { migrate } = await import("../src/server/db/migrate");
  await migrate(url, { log: () => {} });
  // Imported after DATABASE_URL is set: src/server/db.ts opens its client on load.
  const { db } = await import("../src/server/db");
  const { createApiToken } = await import("../src/server/auth/api-tokens");
  const { GET } = await import("../src/app/api/metrics/route");

  const user = await db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
  const actor = { id: user.id, email: user.email, role: "ADMIN" as const };
  const box = await db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
  const vmIds: string[] = [];
  for (let i = 0; i < VMS; i++) {
    const name = `bench-${i}`;
    const vm = await db.vm.create({
      data: { name, activeName: name, ownerId: user.id, boxId: box.id, cpus: 2, ramMb: 2048, diskGb: 20, driver: "qemu", state: "RUNNING" },
    });
    vmIds.push(vm.id);
  }
  const { token } = await createApiToken(db, actor, { label: "bench", scopes: ["metrics:read", "admin"], expiresInDays: 1 });

  const end = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
  const modes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
  const reading = (i: number): Reading[] => [
    {
      source: HOST_SOURCE,
      counters: [
        ...modes.map((mode, m) => ({ name: "cpuSeconds" as const, labels: { mode }, value: 86_400 * m + i * 0.37 })),
        ...["nvme0n1", "sda"].flatMap((device) => [
          { name: "diskReadBytes" as const, labels: { device }, value: 4.2e11 + i * 4096 },
          { name: "diskWrittenBytes" as const, labels: { device }, value: 9.1e11 + i * 65536 },
          { name: "diskReadsCompleted" as const, labels: { device }, value: 3.3e7 + i },
          { name: "diskWritesCompleted" as const, labels: { device }, value: 7.7e7 + i * 3 },
        ]),
      ],
      values: {
        cpuPct: i % 100,
        cpuCount: 8,
        load1: 1.5,
        load5: 1.2,
        load15: 1,
        memTotalBytes: 64e9,
        memUsedBytes: 30e9,
        memAvailableBytes: 34e9,
        swapTotalBytes: 8e9,
        swapUsedBytes: 1e8,
        uptimeS: 86_400 + i * 5,
      },
    },
    { source: fsSource("/"), values: { fsSizeBytes: 500e9, fsUsedBytes: 200e9, fsPct: 40 } },
    { source: fsSource("/var/lib/libvirt"), values: { fsSizeBytes: 2e12, fsUsedBytes: 1e12, fsPct: 50 } },
    ...["eno1", "virbr1"].map((nic) => ({
      source: netSource(nic),
      values: { netRxBps: 125_000, netTxBps: 40_000 },
      counters: [
        { name: "netReceiveBytes" as const, value: 8.4e11 + i * 625_000 },
        { name: "netTransmitBytes" as const, value: 2.2e11 + i * 200_000 },
      ],
    })),
    ...vmIds.map((id, v) => ({
      source: vmSource(id),
      values: { cpuPct: (i + v) % 100, memUsedBytes: 1e9, memAvailableBytes: 1e9, memPct: 50, rssBytes: 2.1e9 },
      counters: [
        { name: "cpuSeconds" as const, value: 51_234.5 + i * 0.6 },
        { name: "diskReadBytes" as const, value: 2.7e9 + i * 4096 },
        { name: "diskWrittenBytes" as const, value: 8.9e9 + i * 20_480 },
        { name: "netReceiveBytes" as const, value: 1.6e8 + i * 10_000 },
        { name: "netTransmitBytes" as const, value: 9.5e7 + i * 5_000 },
      ],
    })),
  ];
  for (let i = HISTORY_TICKS - 1; i >= 0; i--) await writeTick(db, end - i * INTERVAL_MS, reading(i));
  // The sampling process's latest tick, published on its lease as its heartbeat does (metrics/service.ts).
  const sampler = createSampler({ db, collectors: [{ name: "bench", collect: async () => reading(0) }], alerts: null, retentionIntervalMs: null });
  await sampler.tick();
  if (!(await tryAcquireLease(db, samplerLeaseName(), "bench-sampler", 3_600_000))) throw new Error("could not take the sampler lease");
  await renewLease(db, samplerLeaseName(), "bench-sampler", 3_600_000, Date.now(), sampler.stats());

  const scrape = async () => {
    const res = await GET(new Request("http://127.0.0.1/api/metrics", { headers: { authorization: `Bearer ${token}` } }));
    if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
    return res.text();
  };
  let text = "";
  for (let i = 0; i < WARMUP; i++) text = await scrape();
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    text = await scrape();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const series = text.split("\n").filter((l) => l && !l.startsWith("#")).length;
  if (!/^twarga_vm_cpu_seconds_total\{/m.test(text)) throw new Error("the scrape has no VM counters");
  const r3 = (n: number | null) => (n === null ? null : Math.round(n * 1000) / 1000);
  console.log(`${SCRAPES} scrapes of ${series} series (${text.length} bytes) with ${VMS} VMs and ${HISTORY_TICKS} ticks of history`);
  console.log(`p50 ${r3(percentile(times, 50))} ms, p95 ${r3(percentile(times, 95))} ms, max ${r3(times.at(-1)!)} ms`);
  console.log(`the sampler's lease status (written with every heartbeat) is ${JSON.stringify(sampler.stats()).length} bytes of JSON`);
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ scrapeP50Ms: r3(percentile(times, 50)), scrapeP95Ms: r3(percentile(times, 95)), series, bytes: Buffer.byteLength(text) }));
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
