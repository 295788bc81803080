// The raw counters in the Prometheus exposition, from the collectors to the
// text: the host collector reading a copy of real /proc files, the VM collector
// reading real `virsh domstats --raw` output through the hypervisor's reader.
// The sampler holds the latest tick's counters; its own process serves them
// live, any other process (a web-only replica) from the status the sampler
// publishes on its lease, each sample stamped with the tick that read it.
// Sources that are gone lose their series; permissions are those of the levels.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createVmReadingSource } from "~/server/hypervisor/reading-source";
import { VmStatsReader } from "~/server/hypervisor/vm-stats";
import { renewLease, tryAcquireLease } from "~/server/leases";
import { createHostCollector } from "~/server/metrics/collectors/host";
import type { Collector } from "~/server/metrics/collectors/types";
import { createVmCollector } from "~/server/metrics/collectors/vms";
import { metricsExposition } from "~/server/metrics/exposition";
import { createSampler, runningSampler, samplerLeaseName, startSampler, type SamplerStats } from "~/server/metrics/sampler";
import { startMetricsServices } from "~/server/metrics/service";
import { liveSamplers, samplerStats } from "~/server/metrics/sampler-health";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { promtoolCheckMetrics } from "../../support/prometheus";
import { PROVIDERS } from "../db/providers";

const FIXTURES = path.join(import.meta.dirname, "../../fixtures");
const VAGRANT_DOMAIN = readFileSync(path.join(FIXTURES, "virsh/domstats-vagrant-domain.txt"), "utf8");

/** The real domstats text with some fields changed (and the domain renamed), as a later or another domain's call would print it. */
function domstats(fields: Record<string, number> = {}, name = "proj1_default"): string {
  let out = VAGRANT_DOMAIN.replace("Domain: 'proj1_default'", `Domain: '${name}'`);
  for (const [key, value] of Object.entries(fields)) {
    const line = new RegExp(`^(\\s*${key.replaceAll(".", "\\.")})=.*$`, "m");
    expect(out).toMatch(line);
    out = out.replace(line, `$1=${value}`);
  }
  return out;
}

const INTERVAL_MS = 5000;
let t: TestDb;
let proc: string, sys: string;
let admin: Actor, bob: Actor;
let bobVm: string, adminVm: string;
/** What the stand-in virsh prints next. */
let virshOutput: string;
/** Listing the VMs to read fails (the database is away): the VM collector throws. */
let listingFails: boolean;
let clock: number;

function setup(provider: "sqlite" | "postgresql") {
  beforeEach(async () => {
    t = await createTestDb({ provider });
    const tmp = mkdtempSync(path.join(tmpdir(), "exposition-counters-"));
    proc = path.join(tmp, "proc");
    sys = path.join(tmp, "sys");
    cpSync(path.join(FIXTURES, "proc"), proc, { recursive: true });
    for (const dir of ["block/vda/device", "block/zram0", "class/net/eth0/device"]) mkdirSync(path.join(sys, dir), { recursive: true });
    const user = async (email: string, role: "ADMIN" | "USER"): Promise<Actor> => ({ ...(await t.db.user.create({ data: { email, role } })), role });
    admin = await user("admin@example.com", "ADMIN");
    bob = await user("bob@example.com", "USER");
    const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
    const vm = async (name: string, ownerId: string) =>
      (await t.db.vm.create({ data: { name, activeName: name, ownerId, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state: "RUNNING" } }))
        .id;
    bobVm = await vm("bob-web", bob.id);
    adminVm = await vm("admin-db", admin.id);
    listingFails = false;
    virshOutput = `${domstats()}\n${domstats({ "cpu.time": 7_000_000_000, "net.0.rx.bytes": 1234 }, "proj2_default")}`;
    clock = Math.floor(Date.now() / 1000) * 1000;
  });
  afterEach(async () => {
    await runningSampler()?.stop();
    await t.close();
    rmSync(path.dirname(proc), { recursive: true, force: true });
  });
}

function collectors(): Collector[] {
  const reader = new VmStatsReader(async () => virshOutput);
  const vms = createVmReadingSource(async () => {
    if (listingFails) throw new Error("database is locked");
    return [
      { id: bobVm, folder: "/srv/vms/proj1", domainName: "proj1_default" },
      { id: adminVm, folder: "/srv/vms/proj2", domainName: "proj2_default" },
    ];
  }, reader);
  return [createHostCollector({ procRoot: proc, sysRoot: sys, paths: [tmpdir()] }), createVmCollector(vms)];
}

const vmLabels = (id: string, name: string, email: string) => `{vm_id="${id}",vm_name="${name}",owner_email="${email}"}`;
const countersOf = (text: string) =>
  text
    .split("\n")
    .filter((l) => /^twarga_\w+_total[{ ]/.test(l) && !l.startsWith("twarga_sampler_"))
    .sort();

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`counters in the exposition (${title})`, () => {
    setup(provider);

    it("a web-only replica serves the sampler's counters from its lease, as the collectors read them, stamped with their tick", async () => {
      const sampler = createSampler({ db: t.db, collectors: collectors(), alerts: null, retentionIntervalMs: null, intervalMs: INTERVAL_MS, now: () => clock });
      const tick = await sampler.tick();
      expect(tick.errors).toEqual({});
      // What service.ts does with every heartbeat, as another process on this host.
      expect(await tryAcquireLease(t.db, samplerLeaseName(), "sampling-process", 60_000)).toBe(true);
      expect(await renewLease(t.db, samplerLeaseName(), "sampling-process", 60_000, Date.now(), sampler.stats())).toBe(true);
      expect(runningSampler()).toBeNull();

      const text = await metricsExposition(t.db, admin);
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
      const at = String(clock);
      const bobL = vmLabels(bobVm, "bob-web", "bob@example.com");
      const adminL = vmLabels(adminVm, "admin-db", "admin@example.com");
      // The values in tests/fixtures/proc and tests/fixtures/virsh, in seconds and bytes.
      expect(countersOf(text)).toEqual(
        [
          `twarga_host_cpu_seconds_total{mode="user"} 18423.47 ${at}`,
          `twarga_host_cpu_seconds_total{mode="nice"} 815.22 ${at}`,
          `twarga_host_cpu_seconds_total{mode="system"} 3870.81 ${at}`,
          `twarga_host_cpu_seconds_total{mode="idle"} 32377.07 ${at}`,
          `twarga_host_cpu_seconds_total{mode="iowait"} 94.11 ${at}`,
          `twarga_host_cpu_seconds_total{mode="irq"} 0 ${at}`,
          `twarga_host_cpu_seconds_total{mode="softirq"} 49.85 ${at}`,
          `twarga_host_cpu_seconds_total{mode="steal"} 10.72 ${at}`,
          `twarga_host_disk_read_bytes_total{device="vda"} ${36965626 * 512} ${at}`,
          `twarga_host_disk_written_bytes_total{device="vda"} ${145866472 * 512} ${at}`,
          `twarga_host_disk_reads_completed_total{device="vda"} 1280713 ${at}`,
          `twarga_host_disk_writes_completed_total{device="vda"} 617823 ${at}`,
          `twarga_host_network_receive_bytes_total{interface="eth0"} 5519202630 ${at}`,
          `twarga_host_network_transmit_bytes_total{interface="eth0"} 18338106 ${at}`,
          `twarga_host_network_receive_bytes_total{interface="ifb0"} 0 ${at}`,
          `twarga_host_network_transmit_bytes_total{interface="ifb0"} 0 ${at}`,
          `twarga_host_network_receive_bytes_total{interface="ifb1"} 0 ${at}`,
          `twarga_host_network_transmit_bytes_total{interface="ifb1"} 0 ${at}`,
          `twarga_vm_cpu_seconds_total${bobL} 38.364784 ${at}`,
          `twarga_vm_disk_read_bytes_total${bobL} 69281792 ${at}`,
          `twarga_vm_disk_written_bytes_total${bobL} 31936512 ${at}`,
          `twarga_vm_network_receive_bytes_total${bobL} 66170 ${at}`,
          `twarga_vm_network_transmit_bytes_total${bobL} 83790 ${at}`,
          `twarga_vm_cpu_seconds_total${adminL} 7 ${at}`,
          `twarga_vm_disk_read_bytes_total${adminL} 69281792 ${at}`,
          `twarga_vm_disk_written_bytes_total${adminL} 31936512 ${at}`,
          `twarga_vm_network_receive_bytes_total${adminL} 1234 ${at}`,
          `twarga_vm_network_transmit_bytes_total${adminL} 83790 ${at}`,
        ].sort(),
      );
      expect(text).toMatch(/^# TYPE twarga_vm_cpu_seconds_total counter$/m);
      expect(text).toMatch(/^# TYPE twarga_host_network_receive_bytes_total counter$/m);
      // Rates and shares computed by us are not exposed; levels stay, without a timestamp.
      expect(text).not.toMatch(/_ratio|_bps|per_second/);
      expect(text).toMatch(/^twarga_host_memory_total_bytes 25276514304$/m); // MemTotal: 24684096 kB

      // A user: their own VM's counters only (and the host's, which every signed-in user may view).
      const bobText = await metricsExposition(t.db, bob);
      expect(bobText).toContain(`twarga_vm_cpu_seconds_total${bobL} 38.364784 ${at}`);
      expect(bobText).not.toContain(adminVm);
      expect(bobText).toMatch(/^twarga_host_cpu_seconds_total\{mode="idle"\} 32377\.07 \d+$/m);

      // The admin health views do not carry the counters around.
      expect((await liveSamplers(t.db))[0]!.stats).not.toHaveProperty("counters");
      expect(await samplerStats(t.db)).toMatchObject({ ticks: 1 });
      expect(await samplerStats(t.db)).not.toHaveProperty("counters");
    });

    it("the monitoring service publishes the held counters on this host's sampler lease with its heartbeat", async () => {
      const service = startMetricsServices(t.db, null, { databaseUrl: t.url, intervalMs: 3_600_000, ttlMs: 2_000, log: () => {} });
      try {
        // The first tick runs at start; the heartbeat (every ttl / 4) then writes the status with the counters.
        let status: SamplerStats | null = null;
        const deadline = Date.now() + 10_000;
        while (!status?.counters?.length && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          status = (await t.db.serviceLease.findUnique({ where: { name: samplerLeaseName() } }))?.status as SamplerStats | null;
        }
        const host = status?.counters?.find((c) => c.source === "host");
        expect(host?.ts).toBe(status?.lastTickAt);
        expect(host?.counters.filter((c) => c.name === "cpuSeconds").map((c) => c.labels?.mode)).toEqual([
          "user",
          "nice",
          "system",
          "idle",
          "iowait",
          "irq",
          "softirq",
          "steal",
        ]);
      } finally {
        await service.stop();
      }
    });

    it("drops the series of sources that are gone: a stopped VM, a removed interface; a collector failing once keeps its last counters two ticks", async () => {
      const sampler = startSampler({ db: t.db, collectors: collectors(), alerts: null, retentionIntervalMs: null, intervalMs: INTERVAL_MS, now: () => clock });
      await sampler.tick(); // after the tick start() ran
      let text = await metricsExposition(t.db, admin);
      expect(text).toContain(`interface="ifb1"`);
      expect(text).toContain(`twarga_vm_cpu_seconds_total{vm_id="${adminVm}"`);

      // The admin's VM is shut off (only its state lines), ifb1 is gone, bob's VM and eth0 moved on.
      clock += INTERVAL_MS;
      virshOutput = `${domstats({ "cpu.time": 40_864_784_000 })}\nDomain: 'proj2_default'\n  state.state=5\n  state.reason=1\n`;
      const netDev = readFileSync(path.join(proc, "net/dev"), "utf8");
      writeFileSync(path.join(proc, "net/dev"), netDev.replace(/^\s*ifb1:.*\n/m, "").replace("5519202630", "5519302630"));
      expect((await sampler.tick()).errors).toEqual({});
      text = await metricsExposition(t.db, admin);
      expect(text).not.toContain(`interface="ifb1"`);
      expect(text).not.toMatch(new RegExp(`_total\\{vm_id="${adminVm}"`));
      expect(text).toContain(`twarga_vm_cpu_seconds_total${vmLabels(bobVm, "bob-web", "bob@example.com")} 40.864784 ${clock}`);
      expect(text).toContain(`twarga_host_network_receive_bytes_total{interface="eth0"} 5519302630 ${clock}`);

      // The VM collector fails: bob's VM keeps its last counters, with their own tick's time, for two ticks, then loses them.
      const lastRead = clock;
      listingFails = true;
      for (let i = 1; i <= 3; i++) {
        clock += INTERVAL_MS;
        expect((await sampler.tick()).errors).toEqual({ vms: "database is locked" });
        text = await metricsExposition(t.db, admin);
        // The host's counters follow every tick meanwhile.
        expect(text).toContain(`twarga_host_network_receive_bytes_total{interface="eth0"} 5519302630 ${clock}`);
        if (i <= 2) expect(text).toContain(`twarga_vm_cpu_seconds_total${vmLabels(bobVm, "bob-web", "bob@example.com")} 40.864784 ${lastRead}`);
        else expect(text).not.toContain("twarga_vm_cpu_seconds_total");
      }
      expect(promtoolCheckMetrics(text).status).toBe(0);
    });
  });
}
