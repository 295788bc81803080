// npm run bench:scrape [-- <scrapes>]
// Times GET /api/metrics in-process (bearer-token check plus exposition) with
// 20 running VMs whose samples fill one hour of 5-second ticks, on a SQLite
// file migrated like the app's. A scrape only reads what the sampler wrote;
// nothing here runs a collector. The last line is JSON for machines.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Reading } from "../src/server/metrics/collectors/types";
import { percentile } from "../src/server/metrics/sampler";
import { fsSource, HOST_SOURCE, vmSource } from "../src/server/metrics/sources";
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
  const reading = (i: number): Reading[] => [
    {
      source: HOST_SOURCE,
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
    ...vmIds.map((id, v) => ({
      source: vmSource(id),
      values: { cpuPct: (i + v) % 100, memUsedBytes: 1e9, memAvailableBytes: 1e9, memPct: 50, rssBytes: 2.1e9 },
    })),
  ];
  for (let i = HISTORY_TICKS - 1; i >= 0; i--) await writeTick(db, end - i * INTERVAL_MS, reading(i));

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
  const r3 = (n: number | null) => (n === null ? null : Math.round(n * 1000) / 1000);
  console.log(`${SCRAPES} scrapes of ${series} series (${text.length} bytes) with ${VMS} VMs and ${HISTORY_TICKS} ticks of history`);
  console.log(`p50 ${r3(percentile(times, 50))} ms, p95 ${r3(percentile(times, 95))} ms, max ${r3(times.at(-1)!)} ms`);
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ scrapeP50Ms: r3(percentile(times, 50)), scrapeP95Ms: r3(percentile(times, 95)), series, bytes: Buffer.byteLength(text) }));
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
