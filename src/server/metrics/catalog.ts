// The one list of metrics. The raw table has one column per metric, the rollup
// tables avg/min/max/count columns per metric; prisma/schema.prisma and the
// 20261128020000_metrics migrations were generated from this list, so adding a
// metric means adding it here, to the schema and in a new migration.

export type MetricUnit = "pct" | "bytes" | "bps" | "ops" | "load" | "count" | "mhz" | "seconds";

export interface MetricDef {
  label: string;
  unit: MetricUnit;
  /** Which kinds of source report it (see sources.ts). */
  kinds: readonly SourceKind[];
}

export type SourceKind = "host" | "vm" | "fs" | "net";

const H = ["host"] as const;
const HV = ["host", "vm"] as const;

export const METRICS = {
  cpuPct: { label: "CPU", unit: "pct", kinds: HV },
  cpuUserPct: { label: "CPU user", unit: "pct", kinds: H },
  cpuSystemPct: { label: "CPU system", unit: "pct", kinds: H },
  cpuIowaitPct: { label: "CPU iowait", unit: "pct", kinds: H },
  cpuStealPct: { label: "CPU steal", unit: "pct", kinds: H },
  load1: { label: "Load 1 min", unit: "load", kinds: H },
  load5: { label: "Load 5 min", unit: "load", kinds: H },
  load15: { label: "Load 15 min", unit: "load", kinds: H },
  cpuCount: { label: "CPUs", unit: "count", kinds: H },
  cpuMhz: { label: "CPU frequency", unit: "mhz", kinds: H },
  memTotalBytes: { label: "Memory total", unit: "bytes", kinds: H },
  memUsedBytes: { label: "Memory used", unit: "bytes", kinds: HV },
  memAvailableBytes: { label: "Memory available", unit: "bytes", kinds: HV },
  memPct: { label: "Memory", unit: "pct", kinds: HV },
  rssBytes: { label: "Resident memory", unit: "bytes", kinds: ["vm"] },
  swapTotalBytes: { label: "Swap total", unit: "bytes", kinds: H },
  swapUsedBytes: { label: "Swap used", unit: "bytes", kinds: H },
  swapPct: { label: "Swap", unit: "pct", kinds: H },
  fsSizeBytes: { label: "Filesystem size", unit: "bytes", kinds: ["host", "fs"] },
  fsUsedBytes: { label: "Filesystem used", unit: "bytes", kinds: ["host", "fs"] },
  fsPct: { label: "Disk", unit: "pct", kinds: ["host", "fs"] },
  diskReadBps: { label: "Disk read", unit: "bps", kinds: HV },
  diskWriteBps: { label: "Disk write", unit: "bps", kinds: HV },
  diskReadOps: { label: "Disk read ops", unit: "ops", kinds: H },
  diskWriteOps: { label: "Disk write ops", unit: "ops", kinds: H },
  netRxBps: { label: "Network in", unit: "bps", kinds: ["host", "vm", "net"] },
  netTxBps: { label: "Network out", unit: "bps", kinds: ["host", "vm", "net"] },
  uptimeS: { label: "Uptime", unit: "seconds", kinds: H },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(METRICS, name);
}

/** One reading of a source: every metric it measured this tick (absent = not measured). */
export type MetricValues = Partial<Record<MetricName, number | null>>;
