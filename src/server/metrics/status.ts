// The phone status page in one small answer: the host's state from its open
// alerts, its CPU, memory and disk now, the actor's own VMs with their state and
// CPU, and the open alerts the actor may see. Polled every few seconds from a
// phone, so it reads only the latest rows and the few columns it shows.
import type { Db } from "../db/client";
import { env } from "../env";
import { forbidden } from "../errors";
import { canListAllVms, canViewHostMetrics, type Actor } from "../permissions";
import type { MetricName } from "./catalog";
import { HOST_SOURCE, vmIdOf, vmSource } from "./sources";
import { openAlertsVisibleTo } from "./current";

export type HostState = "ok" | "warning" | "critical";

/** A reading older than this many sampler intervals is not "now" (the live page calls it stale at the same age). */
const STALE_INTERVALS = 3;

/** The host's state: the worst open alert on the host itself, its filesystems or its interfaces; VM alerts are the VMs' own. */
export function hostStateOf(alerts: Array<{ source: string; severity: string }>): HostState {
  const onHost = alerts.filter((a) => vmIdOf(a.source) === null);
  if (onHost.some((a) => a.severity === "CRITICAL")) return "critical";
  return onHost.length > 0 ? "warning" : "ok";
}

/** What an alert is about, in words: "host", "disk /var", "network eth0", or the VM's name. */
function subjectOf(source: string, vmNames: Map<string, string>): string {
  if (source === HOST_SOURCE) return "host";
  const vmId = vmIdOf(source);
  if (vmId !== null) return vmNames.get(vmId) ?? "a VM";
  if (source.startsWith("fs:")) return `disk ${source.slice(3)}`;
  if (source.startsWith("net:")) return `network ${source.slice(4)}`;
  return source;
}

export async function statusSummary(db: Db, actor: Actor, nowMs = Date.now()) {
  if (!canViewHostMetrics(actor)) throw forbidden();
  const intervalMs = env().SAMPLER_INTERVAL_MS;
  const since = BigInt(nowMs - STALE_INTERVALS * intervalMs);
  // Only the actor's own VMs, admins included: the page answers "how are MY things"; an admin gets a count of the rest.
  const [hostRow, mine, alerts, others] = await Promise.all([
    db.metricSample.findFirst({
      where: { source: HOST_SOURCE, ts: { gte: since } },
      orderBy: { ts: "desc" },
      select: { ts: true, cpuPct: true, memPct: true, fsPct: true },
    }),
    db.vm.findMany({ where: { ownerId: actor.id, state: { not: "DESTROYED" } }, select: { id: true, name: true, state: true }, orderBy: { name: "asc" } }),
    openAlertsVisibleTo(db, actor),
    canListAllVms(actor)
      ? Promise.all([
          db.vm.count({ where: { ownerId: { not: actor.id }, state: { not: "DESTROYED" } } }),
          db.vm.count({ where: { ownerId: { not: actor.id }, state: "RUNNING" } }),
        ])
      : null,
  ]);
  const running = mine.filter((vm) => vm.state === "RUNNING");
  const vmRows =
    running.length === 0
      ? []
      : await db.metricSample.findMany({
          where: { source: { in: running.map((vm) => vmSource(vm.id)) }, ts: { gte: since } },
          select: { source: true, ts: true, cpuPct: true },
          orderBy: { ts: "desc" },
        });
  const latestCpu = new Map<string, number | null>();
  for (const row of vmRows) if (!latestCpu.has(row.source)) latestCpu.set(row.source, row.cpuPct);

  // Names for alerts on VMs the actor may see (an admin sees alerts on other users' VMs too).
  const alertVmIds = alerts.map((a) => vmIdOf(a.source)).filter((id): id is string => id !== null);
  const vmNames = new Map(mine.map((vm) => [vm.id, vm.name]));
  const unnamed = alertVmIds.filter((id) => !vmNames.has(id));
  if (unnamed.length > 0)
    for (const vm of await db.vm.findMany({ where: { id: { in: unnamed } }, select: { id: true, name: true } })) vmNames.set(vm.id, vm.name);

  return {
    now: nowMs,
    intervalMs,
    hostState: hostStateOf(alerts),
    /** The latest host reading, or null when the sampler has written none for STALE_INTERVALS intervals. */
    host: hostRow ? { ts: Number(hostRow.ts), cpuPct: hostRow.cpuPct, memPct: hostRow.memPct, fsPct: hostRow.fsPct } : null,
    vms: mine.map((vm) => ({
      id: vm.id,
      name: vm.name,
      state: vm.state,
      /** Only for a running VM with a recent reading. */
      cpuPct: latestCpu.get(vmSource(vm.id)) ?? null,
    })),
    /** Admins only: every other user's VMs, counted. */
    others: others ? { vms: others[0], running: others[1] } : null,
    alerts: alerts.map((a) => ({
      id: a.id,
      severity: a.severity,
      ruleName: a.rule.name,
      metric: a.rule.metric as MetricName,
      subject: subjectOf(a.source, vmNames),
      vmId: vmIdOf(a.source),
      lastValue: a.lastValue,
      openedAt: a.openedAt,
    })),
  };
}
