"use client";
// The phone status page: readable in one glance at 375 px, refreshed the way
// /monitor and the dashboard's "Host now" refresh (one tRPC query polled at the
// sampler's pace, paused in background tabs). No chart library: the bars are
// plain divs, so the first paint needs nothing but this page's own small chunk.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { liveRefresh } from "~/components/metrics/live-refresh";
import { formatMetric } from "~/server/metrics/format";
import { Freshness } from "~/components/metrics/metric-tile";
import { SeverityBadge } from "~/components/events/severity-badge";
import { VmStateBadge } from "~/components/vms/state-badge";
import { When } from "~/components/shell/when";

export type StatusSummary = inferRouterOutputs<AppRouter>["metrics"]["status"];

const STATE: Record<StatusSummary["hostState"], { words: string; frame: string; dot: string }> = {
  ok: {
    words: "Host OK",
    frame: "border-emerald-300 bg-emerald-50 dark:border-emerald-900 dark:bg-emerald-950",
    dot: "bg-emerald-500",
  },
  warning: {
    words: "Host warning",
    frame: "border-amber-300 bg-amber-50 dark:border-amber-900 dark:bg-amber-950",
    dot: "bg-amber-500",
  },
  critical: {
    words: "Host critical",
    frame: "border-red-400 bg-red-50 dark:border-red-900 dark:bg-red-950",
    dot: "bg-red-600",
  },
};

const FIGURES = [
  ["cpuPct", "CPU"],
  ["memPct", "Memory"],
  ["fsPct", "Disk"],
] as const;

/** A 0–100 % figure with a bar (a div, not a chart). */
function Figure({ metric, label, value, testId }: { metric: (typeof FIGURES)[number][0]; label: string; value: number | null; testId: string }) {
  const width = value === null ? 0 : Math.min(100, Math.max(0, value));
  const bar = width >= 90 ? "bg-red-500" : width >= 75 ? "bg-amber-500" : "bg-blue-500";
  return (
    <div className="min-w-0 rounded-lg border border-gray-200 bg-white p-2 dark:border-gray-800 dark:bg-gray-900" data-testid={testId}>
      <div className="text-xs text-gray-500 dark:text-gray-400">{label}</div>
      <div className="truncate text-lg font-semibold tabular-nums" data-testid={`${testId}-value`}>
        {formatMetric(metric, value)}
      </div>
      <div className="mt-1 h-1.5 rounded-full bg-gray-100 dark:bg-gray-800" aria-hidden>
        <div className={`h-1.5 rounded-full ${bar}`} style={{ width: `${width}%` }} />
      </div>
    </div>
  );
}

export function StatusLive({ initial }: { initial: StatusSummary }) {
  const trpc = useTRPC();
  const { data = initial, isError } = useQuery(trpc.metrics.status.queryOptions(undefined, liveRefresh(initial)));
  const state = STATE[data.hostState];
  const { host, vms, alerts, others } = data;
  return (
    <div className="space-y-4" data-testid="status" data-now={data.now}>
      <section className={`rounded-lg border p-3 ${state.frame}`} data-testid="host-state" data-state={data.hostState} role="status">
        <div className="flex items-center gap-2">
          <span className={`h-3 w-3 shrink-0 rounded-full ${state.dot}`} aria-hidden />
          <h1 className="text-lg font-semibold">{state.words}</h1>
        </div>
        <p className="mt-0.5 text-sm text-gray-700 dark:text-gray-300">
          {alerts.length === 0 ? "No open alerts" : `${alerts.length} open alert${alerts.length === 1 ? "" : "s"}`}
          {" · "}
          {host ? (
            <Freshness ageMs={data.now - host.ts} intervalMs={data.intervalMs} sampledAt={host.ts} />
          ) : (
            <span className="text-xs">no recent reading</span>
          )}
          {isError && <span className="ml-2 text-xs text-red-600 dark:text-red-400">refresh failed, retrying</span>}
        </p>
      </section>

      <section aria-label="Host now" className="grid grid-cols-3 gap-2">
        {FIGURES.map(([metric, label]) => (
          <Figure key={metric} metric={metric} label={label} value={host?.[metric] ?? null} testId={`status-${metric}`} />
        ))}
      </section>

      <section>
        <h2 className="mb-1 flex items-baseline justify-between gap-2 text-base font-semibold">
          <span>Your VMs</span>
          <Link href="/vms" className="text-sm font-normal text-blue-600 hover:underline dark:text-blue-400">
            All VMs
          </Link>
        </h2>
        {vms.length === 0 ? (
          <p className="text-sm text-gray-500 dark:text-gray-400" data-testid="status-no-vms">
            You have no VMs.
          </p>
        ) : (
          <ul
            className="divide-y divide-gray-200 rounded-lg border border-gray-200 bg-white dark:divide-gray-800 dark:border-gray-800 dark:bg-gray-900"
            data-testid="status-vms"
          >
            {vms.map((vm) => (
              <li key={vm.id} className="flex min-w-0 items-center gap-2 px-3 py-2 text-sm" data-testid={`status-vm-${vm.id}`}>
                <Link href={`/vms/${vm.id}`} className="min-w-0 flex-1 truncate font-medium hover:underline">
                  {vm.name}
                </Link>
                <VmStateBadge state={vm.state} />
                <span className="w-16 shrink-0 text-right tabular-nums text-gray-700 dark:text-gray-300" data-testid="status-vm-cpu">
                  {vm.state === "RUNNING" ? formatMetric("cpuPct", vm.cpuPct) : ""}
                </span>
              </li>
            ))}
          </ul>
        )}
        {others && (
          <p className="mt-1 text-xs text-gray-500 dark:text-gray-400" data-testid="status-others">
            Other users: {others.vms} VM{others.vms === 1 ? "" : "s"}, {others.running} running.
          </p>
        )}
      </section>

      <section>
        <h2 className="mb-1 text-base font-semibold">Open alerts</h2>
        {alerts.length === 0 ? (
          <p className="text-sm text-gray-500 dark:text-gray-400" data-testid="status-no-alerts">
            None.
          </p>
        ) : (
          <ul className="space-y-1.5" data-testid="status-alerts">
            {alerts.map((a) => (
              <li key={a.id} className="flex min-w-0 flex-wrap items-baseline gap-x-2 text-sm">
                <SeverityBadge severity={a.severity} />
                <span className="min-w-0 break-words font-medium">{a.ruleName}</span>
                <span className="min-w-0 break-words text-gray-500 dark:text-gray-400">
                  {a.subject} · now {formatMetric(a.metric, a.lastValue)} · since <When value={a.openedAt} style="time" />
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
