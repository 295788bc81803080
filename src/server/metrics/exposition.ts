// GET /api/metrics: the latest readings in the Prometheus text format 0.0.4.
//
// A scrape only reads what the sampler already wrote (the newest raw rows) and
// the counters it publishes on its lease; it never runs a collector. Levels are
// exposed in base units (bytes, seconds, ratios 0..1). The per-second network
// and disk figures the sampler stores are rates it computed between two ticks;
// they are left out on purpose, since Prometheus derives rates itself from
// counters and the sampler does not keep the raw counters yet.
import { VmJobState } from "../../generated/prisma/sqlite/enums";
import { createServer, type Server } from "node:http";
import type { Db } from "../db/client";
import { env } from "../env";
import { canListAllVms, canViewHostMetrics, canViewVm, type Actor } from "../permissions";
import type { MetricName } from "./catalog";
import { openAlertsVisibleTo } from "./current";
import { samplerStats } from "./sampler-health";
import { HOST_SOURCE, vmIdOf } from "./sources";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;
interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: { labels: Labels; value: number }[];
}

interface SeriesDef {
  name: string;
  help: string;
  metric: MetricName;
  /** Multiplier to base units (percent to ratio). */
  scale?: number;
}

const HOST_SERIES: SeriesDef[] = [
  { name: "twarga_host_cpu_usage_ratio", help: "Share of all CPUs busy during the last sampler tick (0..1).", metric: "cpuPct", scale: 0.01 },
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
  { name: "twarga_vm_cpu_usage_ratio", help: "Share of the VM's vCPUs busy during the last sampler tick (0..1).", metric: "cpuPct", scale: 0.01 },
  { name: "twarga_vm_memory_used_bytes", help: "Memory the guest uses.", metric: "memUsedBytes" },
  { name: "twarga_vm_memory_available_bytes", help: "Memory available in the guest.", metric: "memAvailableBytes" },
  { name: "twarga_vm_resident_memory_bytes", help: "Resident memory of the VM's process on the host.", metric: "rssBytes" },
];
const SELECTED = [...new Set([...HOST_SERIES, ...FS_SERIES, ...VM_SERIES].map((s) => s.metric))];

type Row = { source: string; ts: bigint } & Partial<Record<MetricName, number | null>>;

const LATEST_COLUMNS = ["source", "ts", ...SELECTED].map((c) => `"${c}"`).join(", ");

/**
 * The newest row of every source, from the last few ticks only (a source gone
 * longer than that is left out, and Prometheus marks its series stale). One
 * query: the (ts) index finds the newest tick and the rows after it.
 */
async function latestRows(db: Db, intervalMs: number): Promise<Map<string, Row>> {
  // Two ticks back too: a collector that failed once should not make its series blink.
  const rows = await db.$queryRawUnsafe<Row[]>(
    `SELECT ${LATEST_COLUMNS} FROM "MetricSample" WHERE "ts" >= (SELECT MAX("ts") FROM "MetricSample") - ${Math.trunc(2 * intervalMs)} ORDER BY "ts" ASC`,
  );
  const latest = new Map<string, Row>();
  for (const row of rows) latest.set(row.source, row);
  return latest;
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
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels);
      const body = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
      out.push(`${f.name}${body} ${formatValue(s.value)}`);
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
    f.samples.push({ labels, value: v * (d.scale ?? 1) });
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
    db.vm.findMany({ select: { id: true, name: true, ownerId: true, owner: { select: { email: true } } } }),
    openAlertsVisibleTo(db, actor),
    admin ? samplerStats(db) : Promise.resolve(null),
    admin ? db.vmJob.groupBy({ by: ["state"], _count: { _all: true } }) : Promise.resolve([]),
  ]);
  const families = new Map<string, Family>();
  const vmById = new Map(vms.map((vm) => [vm.id, vm]));

  const hostRow = rows.get(HOST_SOURCE);
  if (canViewHostMetrics(actor)) {
    if (hostRow) addSeries(families, HOST_SERIES, hostRow, {});
    for (const [source, row] of rows) if (source.startsWith("fs:")) addSeries(families, FS_SERIES, row, { mountpoint: source.slice(3) });
  }
  for (const [source, row] of rows) {
    const vm = vmById.get(vmIdOf(source) ?? "");
    if (vm && canViewVm(actor, vm)) addSeries(families, VM_SERIES, row, { vm_id: vm.id, vm_name: vm.name, owner_email: vm.owner.email });
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
