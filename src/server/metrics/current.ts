// The live view: latest values, their age and a short trend per source, plus
// the open alerts, for what the actor may see.
import type { Db } from "../db/client";
import { env } from "../env";
import { forbidden } from "../errors";
import { canViewHostMetrics, canViewVm, type Actor } from "../permissions";
import { METRIC_NAMES, type MetricName, type MetricValues } from "./catalog";
import { fsSource, HOST_SOURCE, sourceKind, vmIdOf, vmSource } from "./sources";
import { watchedPaths } from "./collectors/host";
import { readingGap } from "./reading-gaps";
import { assertCanViewVmMetrics, visibleRunningVms, vmOwners } from "./vm-access";

/** How far back the sparklines reach. */
export const TREND_MS = 5 * 60_000;
export const HOST_TREND_METRICS = [
  "cpuPct",
  "memPct",
  "fsPct",
  "swapPct",
  "load1",
  "netRxBps",
  "netTxBps",
  "diskReadBps",
  "diskWriteBps",
] as const satisfies readonly MetricName[];
const VM_TILE_METRICS = ["cpuPct", "memPct", "netRxBps"] as const satisfies readonly MetricName[];
export const VM_TREND_METRICS = ["cpuPct", "memPct", "netRxBps", "netTxBps", "diskReadBps", "diskWriteBps"] as const satisfies readonly MetricName[];

export interface SourceNow {
  source: string;
  /** Time of the latest reading (epoch ms), null when none in the trend window. */
  ts: number | null;
  ageMs: number | null;
  values: MetricValues;
  trend: { t: number[]; values: Partial<Record<MetricName, (number | null)[]>> };
}

type SampleRow = { source: string; ts: bigint } & Partial<Record<MetricName, number | null>>;

async function recentRows(db: Db, sources: string[], sinceMs: number, metrics: readonly MetricName[] | null): Promise<Map<string, SampleRow[]>> {
  const select: Record<string, true> = { source: true, ts: true };
  for (const m of metrics ?? METRIC_NAMES) select[m] = true;
  const rows = (await db.metricSample.findMany({
    where: { source: { in: sources }, ts: { gte: BigInt(sinceMs) } },
    select,
    orderBy: { ts: "asc" },
  })) as unknown as SampleRow[];
  const bySource = new Map<string, SampleRow[]>();
  for (const row of rows) (bySource.get(row.source) ?? bySource.set(row.source, []).get(row.source)!).push(row);
  return bySource;
}

function toNow(source: string, rows: SampleRow[], trendMetrics: readonly MetricName[], nowMs: number): SourceNow {
  const last = rows.at(-1);
  const values: MetricValues = {};
  if (last) for (const m of METRIC_NAMES) if (last[m] !== undefined && last[m] !== null) values[m] = last[m];
  const trend: SourceNow["trend"] = { t: rows.map((r) => Number(r.ts)), values: {} };
  for (const m of trendMetrics) trend.values[m] = rows.map((r) => r[m] ?? null);
  const ts = last ? Number(last.ts) : null;
  return { source, ts, ageMs: ts === null ? null : nowMs - ts, values, trend };
}

export async function openAlertsVisibleTo(db: Db, actor: Actor) {
  const open = await db.alertInstance.findMany({
    where: { resolvedAt: null },
    include: { rule: { select: { name: true, metric: true, threshold: true, comparison: true } } },
    orderBy: { openedAt: "desc" },
  });
  const owners = await vmOwners(
    db,
    open.map((a) => vmIdOf(a.source)).filter((id): id is string => id !== null),
  );
  return open.filter((a) => {
    const vmId = vmIdOf(a.source);
    if (vmId === null) return canViewHostMetrics(actor);
    const ownerId = owners.get(vmId);
    return ownerId !== undefined && canViewVm(actor, { ownerId });
  });
}

export async function openAlertCount(db: Db, actor: Actor): Promise<number> {
  return (await openAlertsVisibleTo(db, actor)).length;
}

/** Everything the live page shows, in one round trip. */
export async function currentState(db: Db, actor: Actor, nowMs = Date.now()) {
  if (!canViewHostMetrics(actor)) throw forbidden();
  const vms = await visibleRunningVms(db, actor);
  const fsSources = watchedPaths().map(fsSource);
  const since = nowMs - TREND_MS;
  const [hostRows, fsRows, vmRows] = await Promise.all([
    recentRows(db, [HOST_SOURCE], since, null),
    recentRows(db, fsSources, since, ["fsSizeBytes", "fsUsedBytes", "fsPct"]),
    // Only what a VM tile shows: with many VMs this is most of the payload a phone polls.
    recentRows(
      db,
      vms.map((vm) => vmSource(vm.id)),
      since,
      VM_TILE_METRICS,
    ),
  ]);
  return {
    now: nowMs,
    intervalMs: env().SAMPLER_INTERVAL_MS,
    host: toNow(HOST_SOURCE, hostRows.get(HOST_SOURCE) ?? [], HOST_TREND_METRICS, nowMs),
    filesystems: fsSources.map((s) => ({ path: s.slice(3), ...toNow(s, fsRows.get(s) ?? [], [], nowMs) })),
    vms: vms.map((vm) => ({ id: vm.id, name: vm.name, ...toNow(vmSource(vm.id), vmRows.get(vmSource(vm.id)) ?? [], ["cpuPct"], nowMs) })),
    alerts: (await openAlertsVisibleTo(db, actor)).map((a) => ({
      id: a.id,
      source: a.source,
      kind: sourceKind(a.source),
      severity: a.severity,
      ruleName: a.rule.name,
      metric: a.rule.metric,
      openedAt: a.openedAt,
      lastValue: a.lastValue,
      peakValue: a.peakValue,
    })),
  };
}

/** The live view of one VM, for its page. */
export async function vmCurrentState(db: Db, actor: Actor, vmId: string, nowMs = Date.now()) {
  await assertCanViewVmMetrics(db, actor, vmId);
  const source = vmSource(vmId);
  const rows = await recentRows(db, [source], nowMs - TREND_MS, [...VM_TREND_METRICS, "memUsedBytes", "memAvailableBytes", "rssBytes"]);
  const alerts = await db.alertInstance.findMany({ where: { resolvedAt: null, source }, include: { rule: { select: { name: true, metric: true } } } });
  return {
    now: nowMs,
    intervalMs: env().SAMPLER_INTERVAL_MS,
    ...toNow(source, rows.get(source) ?? [], VM_TREND_METRICS, nowMs),
    unavailable: await readingGap(db, vmId),
    alerts: alerts.map((a) => ({ id: a.id, severity: a.severity, ruleName: a.rule.name, metric: a.rule.metric, openedAt: a.openedAt, lastValue: a.lastValue })),
  };
}
