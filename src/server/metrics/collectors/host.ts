// The host collector: CPU, load, memory, swap, watched filesystems, disk and
// network rates, uptime. Every source read here is a file under /proc or /sys
// or a syscall (statfs); nothing spawns a process, so a 5-second tick costs well
// under a millisecond of CPU (see bench/sampler.ts).
import { existsSync, readFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import si from "systeminformation";
import { env, type Env } from "../../env";
import { vmRoot } from "../../vms/paths";
import type { MetricValues } from "../catalog";
import { CounterRates, pct } from "../rates";
import { fsSource, HOST_SOURCE, netSource } from "../sources";
import { cpuPercents, parseDiskstats, parseNetDev, parseProcStat, type CpuTimes } from "./procfs";
import type { Collector, Reading } from "./types";

/** The filesystems to watch: METRICS_WATCHED_PATHS, else "/" and the VM root. */
export function watchedPaths(e: Env = env()): string[] {
  const listed = e.METRICS_WATCHED_PATHS?.split(",").map((p) => p.trim()).filter(Boolean);
  const paths = listed?.length ? listed : ["/", vmRoot(e)];
  return [...new Set(paths.map((p) => path.resolve(p)))];
}

export interface FsUsage {
  sizeBytes: number;
  usedBytes: number;
  /** Space ordinary users can still write (root's reserve excluded). */
  availableBytes: number;
  pct: number | null;
}

/**
 * Usage of the filesystem holding `target` (statfs, as df computes it: used
 * over used + available-to-users). A path that does not exist yet (a VM root
 * before the first VM) is measured at its nearest existing parent, which is
 * where its data will land.
 */
export async function filesystemUsage(target: string): Promise<FsUsage> {
  let p = path.resolve(target);
  while (!existsSync(p) && p !== path.dirname(p)) p = path.dirname(p);
  const s = await statfs(p);
  const size = s.blocks * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  const available = s.bavail * s.bsize;
  return { sizeBytes: size, usedBytes: used, availableBytes: available, pct: pct(used, used + available) };
}

const isVmTap = (name: string) => /^(vnet|tap|macvtap)\d/.test(name);

export interface HostCollectorOptions {
  paths?: string[];
  /** Where /proc and /sys are (tests point these at fixture trees). */
  procRoot?: string;
  sysRoot?: string;
}

export function createHostCollector(opts: HostCollectorOptions = {}): Collector {
  const paths = opts.paths ?? watchedPaths();
  const proc = opts.procRoot ?? "/proc";
  const sys = opts.sysRoot ?? "/sys";
  const rates = new CounterRates();
  // Whole disks have a device link under /sys/block; partitions, loop, zram
  // and device-mapper nodes do not. Physical NICs have /sys/class/net/X/device,
  // so the host total is not inflated by bridges and VM taps carrying the same bytes.
  const wholeDisk = new Map<string, boolean>();
  const physicalNic = new Map<string, boolean>();
  const isWholeDisk = (name: string) => {
    let known = wholeDisk.get(name);
    if (known === undefined) wholeDisk.set(name, (known = existsSync(`${sys}/block/${name}/device`)));
    return known;
  };
  const isPhysicalNic = (name: string) => {
    let known = physicalNic.get(name);
    if (known === undefined) physicalNic.set(name, (known = existsSync(`${sys}/class/net/${name}/device`)));
    return known;
  };

  let prevCpu: CpuTimes | null = null;

  function measure(statText: string, diskText: string, netText: string, nowMs: number) {
    const cpu = parseProcStat(statText);
    const cpuShares = prevCpu && cpu ? cpuPercents(prevCpu, cpu) : null;
    prevCpu = cpu;

    const disk = parseDiskstats(diskText, isWholeDisk);
    const values: MetricValues = {
      ...(cpuShares ?? {}),
      diskReadBps: rates.rate("disk.rb", disk.readBytes, nowMs),
      diskWriteBps: rates.rate("disk.wb", disk.writeBytes, nowMs),
      diskReadOps: rates.rate("disk.ro", disk.readOps, nowMs),
      diskWriteOps: rates.rate("disk.wo", disk.writeOps, nowMs),
    };

    const nics: Reading[] = [];
    let rxTotal: number | null = null;
    let txTotal: number | null = null;
    const seen = ["disk.rb", "disk.wb", "disk.ro", "disk.wo"];
    for (const [name, c] of parseNetDev(netText)) {
      if (name === "lo" || isVmTap(name)) continue;
      seen.push(`rx.${name}`, `tx.${name}`);
      const rx = rates.rate(`rx.${name}`, c.rx, nowMs);
      const tx = rates.rate(`tx.${name}`, c.tx, nowMs);
      nics.push({ source: netSource(name), values: { netRxBps: rx, netTxBps: tx } });
      if (isPhysicalNic(name)) {
        if (rx !== null) rxTotal = (rxTotal ?? 0) + rx;
        if (tx !== null) txTotal = (txTotal ?? 0) + tx;
      }
    }
    rates.retainOnly(seen);
    values.netRxBps = rxTotal;
    values.netTxBps = txTotal;
    return { values, nics };
  }

  // Prime the counters so the very first tick already has rates and CPU shares.
  try {
    measure(readFileSync(`${proc}/stat`, "utf8"), readFileSync(`${proc}/diskstats`, "utf8"), readFileSync(`${proc}/net/dev`, "utf8"), Date.now());
  } catch {
    // Not Linux, or /proc unreadable: the first collect() reports the error.
  }

  return {
    name: "host",
    async collect(nowMs) {
      // Files under /proc are generated in memory by the kernel: a synchronous
      // read takes microseconds and skips the thread-pool round trip.
      const statText = readFileSync(`${proc}/stat`, "utf8");
      const diskText = readFileSync(`${proc}/diskstats`, "utf8");
      const netText = readFileSync(`${proc}/net/dev`, "utf8");
      const [mem, speed, filesystems] = await Promise.all([
        si.mem(),
        si.cpuCurrentSpeed(),
        Promise.all(paths.map(async (p) => ({ path: p, usage: await filesystemUsage(p).catch(() => null) }))),
      ]);
      const { values, nics } = measure(statText, diskText, netText, nowMs);
      const [load1, load5, load15] = os.loadavg();
      const memUsed = mem.total - mem.available;
      Object.assign(values, {
        load1,
        load5,
        load15,
        cpuCount: os.availableParallelism(),
        cpuMhz: speed.avg > 0 ? Math.round(speed.avg * 1000) : null,
        memTotalBytes: mem.total,
        memUsedBytes: memUsed,
        memAvailableBytes: mem.available,
        memPct: pct(memUsed, mem.total),
        swapTotalBytes: mem.swaptotal,
        swapUsedBytes: mem.swapused,
        // No swap configured means nothing can be swapped: 0 %, not unknown.
        swapPct: mem.swaptotal > 0 ? pct(mem.swapused, mem.swaptotal) : 0,
        uptimeS: Math.round(os.uptime()),
      } satisfies MetricValues);

      // The host row carries the fullest watched filesystem, which is the one
      // the disk alert is about; each filesystem also gets its own row.
      const fsReadings: Reading[] = [];
      let fullest: FsUsage | null = null;
      for (const { path: p, usage } of filesystems) {
        if (!usage) continue;
        fsReadings.push({ source: fsSource(p), values: { fsSizeBytes: usage.sizeBytes, fsUsedBytes: usage.usedBytes, fsPct: usage.pct } });
        if (!fullest || (usage.pct ?? 0) > (fullest.pct ?? 0)) fullest = usage;
      }
      if (fullest) Object.assign(values, { fsSizeBytes: fullest.sizeBytes, fsUsedBytes: fullest.usedBytes, fsPct: fullest.pct });

      return [{ source: HOST_SOURCE, values }, ...fsReadings, ...nics];
    },
  };
}
