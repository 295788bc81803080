// Parsers for the kernel files the host collector reads itself. These files
// are read directly because systeminformation's disksIO(), fsStats() and
// networkStats() spawn lsblk/cat through a shell on Linux, and its
// currentLoad() has no iowait; reading the files costs a fraction of a
// millisecond and spawns nothing. Memory and CPU clock are read here too:
// si.mem() reads the same /proc/meminfo, but asynchronously into a Buffer and
// then scans every line once per field (~15 passes); si.cpuCurrentSpeed()
// relies on os.cpus(), which reports 0 MHz on VMs without cpufreq (so the host
// had no clock there). One synchronous read and one pass each is less work
// and less garbage per tick (bench/sampler.ts: CPU per tick halved).

/** Jiffies of the aggregate "cpu" line of /proc/stat. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export function parseProcStat(text: string): CpuTimes | null {
  const line = text.split("\n", 1)[0];
  if (!line?.startsWith("cpu ")) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { user, nice, system, idle, iowait, irq, softirq, steal };
}

/**
 * The clock /proc/stat counts in: USER_HZ, which the kernel fixes at 100 for
 * every architecture's user-space ABI whatever its internal HZ (what
 * `getconf CLK_TCK` prints; Prometheus' procfs library assumes the same).
 */
export const USER_HZ = 100;

/**
 * Seconds all CPUs together spent in each mode since boot (node_exporter's
 * node_cpu_seconds_total summed over CPUs). Guest time is already inside user
 * and nice, so it is not a mode of its own here.
 */
export function cpuSecondsByMode(times: CpuTimes): Record<keyof CpuTimes, number> {
  const out = {} as Record<keyof CpuTimes, number>;
  for (const mode of Object.keys(times) as (keyof CpuTimes)[]) out[mode] = times[mode] / USER_HZ;
  return out;
}

export interface CpuPercents {
  cpuPct: number;
  cpuUserPct: number;
  cpuSystemPct: number;
  cpuIowaitPct: number;
  cpuStealPct: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * CPU shares over the interval between two /proc/stat readings. Busy time is
 * everything but idle and iowait (as top counts it). Null when the counters
 * went backwards (a reset) or did not move.
 */
export function cpuPercents(prev: CpuTimes, cur: CpuTimes): CpuPercents | null {
  const d = (k: keyof CpuTimes) => cur[k] - prev[k];
  const keys = Object.keys(cur) as (keyof CpuTimes)[];
  if (keys.some((k) => d(k) < 0)) return null;
  const total = keys.reduce((s, k) => s + d(k), 0);
  if (total <= 0) return null;
  const share = (n: number) => round2((n / total) * 100);
  return {
    cpuPct: share(total - d("idle") - d("iowait")),
    cpuUserPct: share(d("user") + d("nice")),
    cpuSystemPct: share(d("system") + d("irq") + d("softirq")),
    cpuIowaitPct: share(d("iowait")),
    cpuStealPct: share(d("steal")),
  };
}

export interface DiskCounters {
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

/**
 * The counters of each whole disk in /proc/diskstats (partitions would count
 * the same I/O twice). Sectors in this file are always 512 bytes.
 */
export function parseDiskstatsByDevice(text: string, isWholeDisk: (name: string) => boolean): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !isWholeDisk(f[2]!)) continue;
    out.set(f[2]!, { readOps: Number(f[3]), readBytes: Number(f[5]) * 512, writeOps: Number(f[7]), writeBytes: Number(f[9]) * 512 });
  }
  return out;
}

/** The counters of /proc/diskstats summed over the given whole disks. */
export function parseDiskstats(text: string, isWholeDisk: (name: string) => boolean): DiskCounters {
  return sumDiskCounters(parseDiskstatsByDevice(text, isWholeDisk).values());
}

export function sumDiskCounters(disks: Iterable<DiskCounters>): DiskCounters {
  const sum: DiskCounters = { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
  for (const d of disks) {
    sum.readOps += d.readOps;
    sum.readBytes += d.readBytes;
    sum.writeOps += d.writeOps;
    sum.writeBytes += d.writeBytes;
  }
  return sum;
}

/** Received and sent byte counters per interface from /proc/net/dev. */
export function parseNetDev(text: string): Map<string, { rx: number; tx: number }> {
  const out = new Map<string, { rx: number; tx: number }>();
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (f.length < 9) continue;
    out.set(name, { rx: Number(f[0]), tx: Number(f[8]) });
  }
  return out;
}

/** What the host collector needs from /proc/meminfo, in bytes. */
export interface MemInfo {
  totalBytes: number;
  /** Memory that can be given to programs without swapping (MemAvailable). */
  availableBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
}

/**
 * Parses /proc/meminfo ("Name:   1234 kB" lines; kB there means KiB). Kernels
 * older than 3.14 have no MemAvailable: it is then estimated as free + buffers
 * + page cache + reclaimable slab, as free(1) did. Null without MemTotal.
 */
export function parseMeminfo(text: string): MemInfo | null {
  const kib = new Map<string, number>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) kib.set(line.slice(0, colon), parseInt(line.slice(colon + 1), 10));
  }
  const bytes = (name: string) => {
    const v = kib.get(name);
    return v === undefined || Number.isNaN(v) ? null : v * 1024;
  };
  const total = bytes("MemTotal");
  if (total === null) return null;
  const available = bytes("MemAvailable") ?? (bytes("MemFree") ?? 0) + (bytes("Buffers") ?? 0) + (bytes("Cached") ?? 0) + (bytes("SReclaimable") ?? 0);
  return { totalBytes: total, availableBytes: Math.min(available, total), swapTotalBytes: bytes("SwapTotal") ?? 0, swapFreeBytes: bytes("SwapFree") ?? 0 };
}

/**
 * Average clock of the CPUs from /proc/cpuinfo's "cpu MHz" lines (x86 has one
 * per logical CPU; most ARM kernels have none, which gives null).
 */
export function parseCpuinfoMhz(text: string): number | null {
  let sum = 0;
  let count = 0;
  for (const match of text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)) {
    sum += Number(match[1]);
    count++;
  }
  return count > 0 ? sum / count : null;
}
