// The host collector: CPU, load, memory, swap, watched filesystems, disk and
// network rates, uptime, and the raw counters behind the CPU shares and rates
// (CPU seconds by mode, bytes and operations per disk, bytes per interface). Every source read here is a file under /proc or /sys
// or a syscall (statfs); nothing spawns a process, so a 5-second tick costs well
// under a millisecond of CPU (see bench/sampler.ts). The files are parsed here
// (./procfs) rather than through systeminformation: the calls of it that would
// fit either spawn a shell on Linux or re-read the same files with more work
// per tick (see procfs.ts).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { env, type Env } from "../../env";
import { vmRoot } from "../../folders";
import type { MetricValues } from "../catalog";
import { CounterRates, pct } from "../rates";
import { fsSource, HOST_SOURCE, netSource } from "../sources";
import {
  cpuPercents,
  cpuSecondsByMode,
  parseCpuinfoMhz,
  parseDiskstatsByDevice,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  sumDiskCounters,
  type CpuTimes,
} from "./procfs";
import type { Collector, CounterSample, Reading } from "./types";

/** The filesystems to watch: METRICS_WATCHED_PATHS, else "/" and the VM root. */
export function watchedPaths(e: Env = env()): string[] {
  const listed = e.METRICS_WATCHED_PATHS?.split(",")
    .map((p) => p.trim())
    .filter(Boolean);
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

  // CPU clock: cpufreq's current frequency per CPU where the kernel has cpufreq
  // (kHz; bare metal), else /proc/cpuinfo's "cpu MHz" (VMs usually have no
  // cpufreq). The list of CPUs is fixed for the life of the process.
  let cpufreqFiles: string[] = [];
  try {
    cpufreqFiles = readdirSync(`${sys}/devices/system/cpu`)
      .filter((name) => /^cpu\d+$/.test(name))
      .map((name) => `${sys}/devices/system/cpu/${name}/cpufreq/scaling_cur_freq`)
      .filter((file) => existsSync(file));
  } catch {
    // No sysfs CPU tree: fall back to /proc/cpuinfo.
  }
  let cpuinfoHasMhz = true;
  const cpuMhz = (): number | null => {
    if (cpufreqFiles.length > 0) {
      let khz = 0;
      let read = 0;
      for (const file of cpufreqFiles) {
        try {
          const v = Number(readFileSync(file, "utf8"));
          if (v > 0) {
            khz += v;
            read++;
          }
        } catch {
          // A CPU taken offline loses its cpufreq directory; average the rest.
        }
      }
      return read > 0 ? Math.round(khz / read / 1000) : null;
    }
    if (!cpuinfoHasMhz) return null;
    const mhz = parseCpuinfoMhz(readFileSync(`${proc}/cpuinfo`, "utf8"));
    // An architecture without "cpu MHz" lines will not grow them: stop reading.
    if (mhz === null) cpuinfoHasMhz = false;
    return mhz !== null && mhz > 0 ? Math.round(mhz) : null;
  };

  let prevCpu: CpuTimes | null = null;

  function measure(statText: string, diskText: string, netText: string, nowMs: number) {
    const cpu = parseProcStat(statText);
    const cpuShares = prevCpu && cpu ? cpuPercents(prevCpu, cpu) : null;
    prevCpu = cpu;

    const disks = parseDiskstatsByDevice(diskText, isWholeDisk);
    const disk = sumDiskCounters(disks.values());
    const values: MetricValues = {
      ...(cpuShares ?? {}),
      diskReadBps: rates.rate("disk.rb", disk.readBytes, nowMs),
      diskWriteBps: rates.rate("disk.wb", disk.writeBytes, nowMs),
      diskReadOps: rates.rate("disk.ro", disk.readOps, nowMs),
      diskWriteOps: rates.rate("disk.wo", disk.writeOps, nowMs),
    };

    // The counters behind those rates, as read, for the exposition.
    const counters: CounterSample[] = [];
    if (cpu) for (const [mode, seconds] of Object.entries(cpuSecondsByMode(cpu))) counters.push({ name: "cpuSeconds", labels: { mode }, value: seconds });
    for (const [device, d] of disks) {
      const labels = { device };
      counters.push(
        { name: "diskReadBytes", labels, value: d.readBytes },
        { name: "diskWrittenBytes", labels, value: d.writeBytes },
        { name: "diskReadsCompleted", labels, value: d.readOps },
        { name: "diskWritesCompleted", labels, value: d.writeOps },
      );
    }

    const nics: Reading[] = [];
    let rxTotal: number | null = null;
    let txTotal: number | null = null;
    const seen = ["disk.rb", "disk.wb", "disk.ro", "disk.wo"];
    for (const [name, c] of parseNetDev(netText)) {
      if (name === "lo" || isVmTap(name)) continue;
      seen.push(`rx.${name}`, `tx.${name}`);
      const rx = rates.rate(`rx.${name}`, c.rx, nowMs);
      const tx = rates.rate(`tx.${name}`, c.tx, nowMs);
      nics.push({
        source: netSource(name),
        values: { netRxBps: rx, netTxBps: tx },
        counters: [
          { name: "netReceiveBytes", value: c.rx },
          { name: "netTransmitBytes", value: c.tx },
        ],
      });
      if (isPhysicalNic(name)) {
        if (rx !== null) rxTotal = (rxTotal ?? 0) + rx;
        if (tx !== null) txTotal = (txTotal ?? 0) + tx;
      }
    }
    rates.retainOnly(seen);
    values.netRxBps = rxTotal;
    values.netTxBps = txTotal;
    return { values, counters, nics };
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
      const mem = parseMeminfo(readFileSync(`${proc}/meminfo`, "utf8"));
      if (!mem) throw new Error(`${proc}/meminfo has no MemTotal`);
      const mhz = cpuMhz();
      const filesystems = await Promise.all(paths.map(async (p) => ({ path: p, usage: await filesystemUsage(p).catch(() => null) })));
      const { values, counters, nics } = measure(statText, diskText, netText, nowMs);
      const [load1, load5, load15] = os.loadavg();
      const memUsed = mem.totalBytes - mem.availableBytes;
      const swapUsed = mem.swapTotalBytes - mem.swapFreeBytes;
      Object.assign(values, {
        load1,
        load5,
        load15,
        cpuCount: os.availableParallelism(),
        cpuMhz: mhz,
        memTotalBytes: mem.totalBytes,
        memUsedBytes: memUsed,
        memAvailableBytes: mem.availableBytes,
        memPct: pct(memUsed, mem.totalBytes),
        swapTotalBytes: mem.swapTotalBytes,
        swapUsedBytes: swapUsed,
        // No swap configured means nothing can be swapped: 0 %, not unknown.
        swapPct: mem.swapTotalBytes > 0 ? pct(swapUsed, mem.swapTotalBytes) : 0,
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

      return [{ source: HOST_SOURCE, values, counters }, ...fsReadings, ...nics];
    },
  };
}
