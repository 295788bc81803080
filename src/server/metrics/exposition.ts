// GET /api/metrics: the latest readings in the Prometheus text format 0.0.4.
//
// A scrape only reads what the sampler already holds: the newest stored rows
// for levels (memory, swap, filesystems, load), and for everything that is a
// counter at its source (CPU seconds, bytes read, written, received, sent) the
// raw counters of its latest tick, which it publishes on its lease; it never
// runs a collector. Everything is in base units (bytes, seconds), counters end
// in _total. The per-second figures and CPU shares the sampler stores are
// rates it computed between two ticks: they are left out, since Prometheus
// computes rates from the counters itself (rate(), irate()). Each counter
// sample carries the time of the tick that read it, so rates come out right
// however far the scrapes are from the ticks (a replica reads the lease status
// published up to a heartbeat later).
import { VmJobState } from "../../generated/prisma/sqlite/enums";
import { createServer, type Server } from "node:http";
import type { Db } from "../db/client";
import { env } from "../env";
import { canListAllVms, canViewHostMetrics, canViewVm, type Actor } from "../permissions";
import type { MetricName } from "./catalog";
import { openAlertsVisibleTo } from "./current";
import type { CounterName } from "./collectors/types";
import { latestSamplerStatus } from "./sampler-health";
import type { SourceCounters } from "./sampler";
import { HOST_SOURCE, vmIdOf } from "./sources";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;
interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: { labels: Labels; value: number; timestampMs?: number }[];
}

interface SeriesDef {
  name: string;
  help: string;
  metric: MetricName;
}

const HOST_SERIES: SeriesDef[] = [
  { name: "twarga_host_cpus", help: "Number of CPUs.", metric: "cpuCount" },
  { name: "twarga_host_load1", help: "Load average over 1 minute.", metric: "load1" },
  { name: "twarga_host_load5", help: "Load average over 5 minutes.", metric: "load5" },
  { name: "twarga_host_load15", help: "Load average over 15 minutes.", metric: "load15" },
  { name: "twarga_host_memory_total_bytes", help: "Physical memory.", metric: "memTotalBytes" },
  { name: "twarga_host_memory_used_bytes", help: "Memory in use (total minus available).", metric: "memUsedBytes" },
  { name: "twarga_host_memory_available_bytes", help: "Memory available to new work.", metric: "memAvailableBytes" },
  { name: "twarga_host_swap_total_bytes", help: "Swap space.", metric: "swapTotalBytes" },
  { name: "twarga_host_swap_used_bytes", help: "Swap in use.", metric: "swapUsedBytes" },
  { name: "twarga_host_uptime_seconds", help: "Seconds since the host booted.", metric: "uptimeS" },
];
const FS_SERIES: SeriesDef[] = [
  { name: "twarga_host_filesystem_size_bytes", help: "Size of a watched filesystem.", metric: "fsSizeBytes" },
  { name: "twarga_host_filesystem_used_bytes", help: "Used space of a watched filesystem.", metric: "fsUsedBytes" },
];
const VM_SERIES: SeriesDef[] = [
  { name: "twarga_vm_memory_used_bytes", help: "Memory the guest uses.", metric: "memUsedBytes" },
  { name: "twarga_vm_memory_available_bytes", help: "Memory available in the guest.", metric: "memAvailableBytes" },
  { name: "twarga_vm_resident_memory_bytes", help: "Resident memory of the VM's process on the host.", metric: "rssBytes" },
];
type CounterDefs = Partial<Record<CounterName, { name: string; help: string }>>;
/** The counters of the host source; the collector labels them by CPU mode and by whole disk. */
const HOST_COUNTERS: CounterDefs = {
  cpuSeconds: { name: "twarga_host_cpu_seconds_total", help: "Seconds all CPUs together spent in each mode since the host booted (/proc/stat)." },
  diskReadBytes: { name: "twarga_host_disk_read_bytes_total", help: "Bytes read from a whole disk since boot (/proc/diskstats)." },
  diskWrittenBytes: { name: "twarga_host_disk_written_bytes_total", help: "Bytes written to a whole disk since boot (/proc/diskstats)." },
  diskReadsCompleted: { name: "twarga_host_disk_reads_completed_total", help: "Reads a whole disk completed since boot (/proc/diskstats)." },
  diskWritesCompleted: { name: "twarga_host_disk_writes_completed_total", help: "Writes a whole disk completed since boot (/proc/diskstats)." },
};
/** The counters of a "net:<interface>" source. */
const NET_COUNTERS: CounterDefs = {
  netReceiveBytes: {
    name: "twarga_host_network_receive_bytes_total",
    help: "Bytes a host network interface received (/proc/net/dev; lo and VM taps left out).",
  },
  netTransmitBytes: { name: "twarga_host_network_transmit_bytes_total", help: "Bytes a host network interface sent (/proc/net/dev; lo and VM taps left out)." },
};
const VM_COUNTERS: CounterDefs = {
  cpuSeconds: {
    name: "twarga_vm_cpu_seconds_total",
    help: "CPU seconds of the VM's vCPUs and QEMU's own threads since its QEMU process started (libvirt cpu.time).",
  },
  diskReadBytes: { name: "twarga_vm_disk_read_bytes_total", help: "Bytes the VM read from all its disks since its QEMU process started." },
  diskWrittenBytes: { name: "twarga_vm_disk_written_bytes_total", help: "Bytes the VM wrote to all its disks since its QEMU process started." },
  netReceiveBytes: { name: "twarga_vm_network_receive_bytes_total", help: "Bytes the VM received on all its interfaces since its QEMU process started." },
  netTransmitBytes: { name: "twarga_vm_network_transmit_bytes_total", help: "Bytes the VM sent on all its interfaces since its QEMU process started." },
};

const SELECTED = [...new Set([...HOST_SERIES, ...FS_SERIES, ...VM_SERIES].map((s) => s.metric))];

type Row = { source: string; ts: bigint } & Partial<Record<MetricName, number | null>>;

const LATEST_COLUMNS = ["source", "ts", ...SELECTED].map((c) => `"${c}"`).join(", ");

/**
 * The newest row of every source, from the last few ticks only (a source gone
 * longer than that is left out, and Prometheus marks its series stale). One
 * query: the (ts) index finds the newest tick and the rows after it, the
 * (source, ts) key drops every row but a source's newest. Plain SQL, as the
 * VM list below: Prisma's query layer costs more than the database does here,
 * and a scrape has a budget (bench/scrape.ts).
 */
async function latestRows(db: Db, intervalMs: number): Promise<Map<string, Row>> {
  // Two ticks back too: a collector that failed once should not make its series blink.
  const rows = await db.$queryRawUnsafe<Row[]>(
    `SELECT ${LATEST_COLUMNS} FROM "MetricSample" m WHERE "ts" >= (SELECT MAX("ts") FROM "MetricSample") - ${Math.trunc(2 * intervalMs)}` +
      ` AND NOT EXISTS (SELECT 1 FROM "MetricSample" n WHERE n."source" = m."source" AND n."ts" > m."ts")`,
  );
  return new Map(rows.map((row) => [row.source, row]));
}

/** Every VM with its owner's email, for the labels. */
function vmsWithOwners(db: Db): Promise<{ id: string; name: string; ownerId: string; email: string }[]> {
  return db.$queryRawUnsafe(`SELECT v."id", v."name", v."ownerId", u."email" FROM "Vm" v JOIN "User" u ON u."id" = v."ownerId"`);
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Renders metric families in the text format 0.0.4 (families without samples are left out). */
export function renderExposition(families: readonly Family[]): string {
  const out: string[] = [];
  // A VM's labels object is shared by all its series: written out once.
  const bodies = new Map<Labels, string>();
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      let body = bodies.get(s.labels);
      if (body === undefined) {
        const labels = Object.entries(s.labels);
        body = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
        bodies.set(s.labels, body);
      }
      out.push(`${f.name}${body} ${formatValue(s.value)}${s.timestampMs === undefined ? "" : ` ${Math.trunc(s.timestampMs)}`}`);
    }
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

function addSeries(families: Map<string, Family>, defs: readonly SeriesDef[], row: Row, labels: Labels) {
  for (const d of defs) {
    const v = row[d.metric];
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    let f = families.get(d.name);
    if (!f) families.set(d.name, (f = { name: d.name, help: d.help, type: "gauge", samples: [] }));
    f.samples.push({ labels, value: v });
  }
}

function addCounters(families: Map<string, Family>, defs: CounterDefs, held: SourceCounters, labels: Labels) {
  for (const c of held.counters) {
    const d = defs[c.name];
    if (!d || !Number.isFinite(c.value)) continue;
    let f = families.get(d.name);
    if (!f) families.set(d.name, (f = { name: d.name, help: d.help, type: "counter", samples: [] }));
    f.samples.push({ labels: c.labels ? { ...labels, ...c.labels } : labels, value: c.value, timestampMs: held.ts });
  }
}

const gauge = (name: string, help: string, samples: Family["samples"]): Family => ({ name, help, type: "gauge", samples });
const counter = (name: string, help: string, samples: Family["samples"]): Family => ({ name, help, type: "counter", samples });

/**
 * Everything the actor may see, as exposition text: host series to anyone who
 * may view host metrics, VM series for the VMs the actor may view, the app's
 * own health (sampler, jobs) to admins, and the open alerts the actor may see.
 */
export async function metricsExposition(db: Db, actor: Actor, nowMs = Date.now()): Promise<string> {
  const intervalMs = env().SAMPLER_INTERVAL_MS;
  const admin = canListAllVms(actor);
  const [rows, vms, alerts, stats, jobs] = await Promise.all([
    latestRows(db, intervalMs),
    vmsWithOwners(db),
    openAlertsVisibleTo(db, actor),
    latestSamplerStatus(db),
    admin ? db.vmJob.groupBy({ by: ["state"], _count: { _all: true } }) : Promise.resolve([]),
  ]);
  const families = new Map<string, Family>();
  const vmById = new Map(vms.map((vm) => [vm.id, vm]));

  const labelsByVm = new Map<string, Labels | null>();
  const vmLabels = (vmId: string | null): Labels | null => {
    if (vmId === null) return null;
    let labels = labelsByVm.get(vmId);
    if (labels === undefined) {
      const vm = vmById.get(vmId);
      labelsByVm.set(vmId, (labels = vm && canViewVm(actor, vm) ? { vm_id: vm.id, vm_name: vm.name, owner_email: vm.email } : null));
    }
    return labels;
  };

  const hostRow = rows.get(HOST_SOURCE);
  const hostVisible = canViewHostMetrics(actor);
  if (hostVisible) {
    if (hostRow) addSeries(families, HOST_SERIES, hostRow, {});
    for (const [source, row] of rows) if (source.startsWith("fs:")) addSeries(families, FS_SERIES, row, { mountpoint: source.slice(3) });
  }
  for (const [source, row] of rows) {
    const labels = vmLabels(vmIdOf(source));
    if (labels) addSeries(families, VM_SERIES, row, labels);
  }
  for (const held of stats?.counters ?? []) {
    if (held.source === HOST_SOURCE) {
      if (hostVisible) addCounters(families, HOST_COUNTERS, held, {});
    } else if (held.source.startsWith("net:")) {
      if (hostVisible) addCounters(families, NET_COUNTERS, held, { interface: held.source.slice(4) });
    } else {
      const labels = vmLabels(vmIdOf(held.source));
      if (labels) addCounters(families, VM_COUNTERS, held, labels);
    }
  }

  const health: Family[] = [];
  if (admin) {
    if (hostRow)
      health.push(
        gauge("twarga_sampler_last_sample_age_seconds", "Seconds since the newest host reading.", [
          { labels: {}, value: Math.max(0, (nowMs - Number(hostRow.ts)) / 1000) },
        ]),
      );
    if (stats) {
      if (stats.lastTickDurationMs !== null)
        health.push(
          gauge("twarga_sampler_tick_duration_seconds", "How long the last sampler tick took.", [{ labels: {}, value: stats.lastTickDurationMs / 1000 }]),
        );
      health.push(counter("twarga_sampler_ticks_total", "Sampler ticks run since the sampler started.", [{ labels: {}, value: stats.ticks }]));
      health.push(
        counter("twarga_sampler_ticks_skipped_total", "Ticks skipped because the previous one was still running.", [{ labels: {}, value: stats.skippedTicks }]),
      );
    }
    const jobCounts = new Map<string, number>(jobs.map((j) => [j.state, j._count._all]));
    // Every state, zeros included, so a query over a state that empties out sees 0 rather than no series.
    const jobSamples = Object.values(VmJobState).map((state) => ({ labels: { state: state.toLowerCase() }, value: jobCounts.get(state) ?? 0 }));
    health.push(gauge("twarga_jobs", "VM jobs by state.", jobSamples));
  }
  const bySeverity = new Map<string, number>();
  for (const a of alerts) bySeverity.set(a.severity, (bySeverity.get(a.severity) ?? 0) + 1);
  const alertSamples = [...bySeverity].map(([severity, value]) => ({ labels: { severity: severity.toLowerCase() }, value }));
  health.push(gauge("twarga_alerts_open", "Open alerts the caller may see, by severity.", alertSamples.length ? alertSamples : [{ labels: {}, value: 0 }]));

  return renderExposition([...families.values(), ...health]);
}

/**
 * What the METRICS_LISTEN listener shows: everything, as an admin would see it.
 * That listener only binds a loopback address (env.ts refuses others), so who
 * may read it is whoever may open a connection on this host, which is the
 * choice that setting makes.
 */
export const LOOPBACK_SCRAPER: Actor = { id: "metrics-listen", email: "", role: "ADMIN" };

/** A plain HTTP listener on a loopback address serving GET /metrics (and /api/metrics) without a token. */
export async function startMetricsListener(db: Db, listen: string): Promise<{ address: string; stop(): Promise<void> }> {
  const at = listen.lastIndexOf(":");
  const host = listen.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(at + 1));
  const server: Server = createServer((req, res) => {
    const pathname = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || (pathname !== "/metrics" && pathname !== "/api/metrics")) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found. Scrape /metrics.\n");
      return;
    }
    metricsExposition(db, LOOPBACK_SCRAPER).then(
      (text) => res.writeHead(200, { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" }).end(text),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  return {
    address: `${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
