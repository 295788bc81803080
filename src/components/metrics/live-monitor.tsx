"use client";
// The live page: host tiles, watched filesystems, one tile per running VM and
// the open alerts, refreshed every few seconds without reloading the page.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "~/trpc/react";
import { liveRefresh } from "./live-refresh";
import { formatMetric } from "~/server/metrics/format";
import type { MetricName } from "~/server/metrics/catalog";
import { Freshness, MetricTile, type TileAlert } from "./metric-tile";
import type { CurrentState } from "./types";
import { When } from "~/components/shell/when";

type Alerts = CurrentState["alerts"];

function alertFor(alerts: Alerts, source: string, metric: MetricName): TileAlert {
  const open = alerts.filter((a) => a.source === source && a.metric === metric);
  if (open.length === 0) return null;
  return open.some((a) => a.severity === "CRITICAL") ? "CRITICAL" : "WARNING";
}

export function HostTiles({ state }: { state: CurrentState }) {
  const { host, alerts, intervalMs } = state;
  const v = host.values;
  const gap = intervalMs * 2.5;
  const trend = (m: MetricName, max?: number) => ({ t: host.trend.t, values: host.trend.values[m] ?? [], maxGapMs: gap, max });
  /** The percentage tiles: each shows its value, its trend on a 0-100 scale and its open host alert. */
  const pct = (m: MetricName) => ({ value: formatMetric(m, v[m]), trend: trend(m, 100), alert: alertFor(alerts, "host", m) });
  const percentTiles: Array<[testId: string, label: string, metric: MetricName, detail: string]> = [
    ["tile-cpu", "CPU", "cpuPct", `iowait ${formatMetric("cpuIowaitPct", v.cpuIowaitPct)} · steal ${formatMetric("cpuStealPct", v.cpuStealPct)}`],
    ["tile-memory", "Memory", "memPct", `${formatMetric("memUsedBytes", v.memUsedBytes)} of ${formatMetric("memTotalBytes", v.memTotalBytes)}`],
    ["tile-disk", "Disk (fullest)", "fsPct", `${formatMetric("fsUsedBytes", v.fsUsedBytes)} of ${formatMetric("fsSizeBytes", v.fsSizeBytes)}`],
    [
      "tile-swap",
      "Swap",
      "swapPct",
      v.swapTotalBytes ? `${formatMetric("swapUsedBytes", v.swapUsedBytes)} of ${formatMetric("swapTotalBytes", v.swapTotalBytes)}` : "no swap",
    ],
  ];
  return (
    <div className="grid grid-cols-2 gap-2 sm:grid-cols-3 lg:grid-cols-4" data-testid="host-tiles">
      {percentTiles.map(([testId, label, m, detail]) => (
        <MetricTile key={testId} testId={testId} label={label} {...pct(m)} detail={detail} />
      ))}
      <MetricTile
        testId="tile-load"
        label="Load (1 / 5 / 15)"
        value={`${formatMetric("load1", v.load1)} / ${formatMetric("load5", v.load5)} / ${formatMetric("load15", v.load15)}`}
        detail={`${formatMetric("cpuCount", v.cpuCount)} CPUs${v.cpuMhz ? ` · ${formatMetric("cpuMhz", v.cpuMhz)}` : ""}`}
        trend={trend("load1")}
      />
      <MetricTile
        testId="tile-net"
        label="Network in / out"
        value={`${formatMetric("netRxBps", v.netRxBps)}`}
        detail={`out ${formatMetric("netTxBps", v.netTxBps)}`}
        trend={trend("netRxBps")}
      />
      <MetricTile
        testId="tile-diskio"
        label="Disk read / write"
        value={formatMetric("diskReadBps", v.diskReadBps)}
        detail={`write ${formatMetric("diskWriteBps", v.diskWriteBps)} · ${formatMetric("diskReadOps", v.diskReadOps)} r, ${formatMetric("diskWriteOps", v.diskWriteOps)} w`}
        trend={trend("diskWriteBps")}
      />
      <MetricTile testId="tile-uptime" label="Uptime" value={formatMetric("uptimeS", v.uptimeS)} />
    </div>
  );
}

export function VmTile({ vm, alerts, intervalMs, href }: { vm: CurrentState["vms"][number]; alerts: Alerts; intervalMs: number; href?: string }) {
  const source = `vm:${vm.id}`;
  const alert = alerts.find((a) => a.source === source);
  const body = (
    <MetricTile
      testId={`vm-tile-${vm.id}`}
      label={vm.name}
      value={vm.ts === null ? "no data" : `CPU ${formatMetric("cpuPct", vm.values.cpuPct)}`}
      detail={
        vm.ts === null ? (
          <Freshness ageMs={null} intervalMs={intervalMs} />
        ) : (
          `mem ${formatMetric("memPct", vm.values.memPct)} · net ${formatMetric("netRxBps", vm.values.netRxBps)} in`
        )
      }
      trend={{ t: vm.trend.t, values: vm.trend.values.cpuPct ?? [], maxGapMs: intervalMs * 2.5, max: 100 }}
      alert={alert ? (alert.severity === "CRITICAL" ? "CRITICAL" : "WARNING") : null}
    />
  );
  return href ? (
    <Link href={href} className="block rounded-lg focus:outline-none focus-visible:ring-2 focus-visible:ring-blue-500">
      {body}
    </Link>
  ) : (
    body
  );
}

export function OpenAlertList({ alerts }: { alerts: Alerts }) {
  if (alerts.length === 0)
    return (
      <p className="text-sm text-gray-500 dark:text-gray-400" data-testid="no-alerts">
        No open alerts.
      </p>
    );
  return (
    <ul className="space-y-1" data-testid="open-alerts">
      {alerts.map((a) => (
        <li key={a.id} className="flex flex-wrap items-baseline gap-x-2 text-sm">
          <span
            className={[
              "rounded-full px-1.5 py-0.5 text-[10px] font-semibold uppercase",
              a.severity === "CRITICAL"
                ? "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200"
                : "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200",
            ].join(" ")}
          >
            {a.severity.toLowerCase()}
          </span>
          <span className="font-medium">{a.ruleName}</span>
          <span className="text-gray-500 dark:text-gray-400">
            {a.source === "host" ? "host" : a.source} · now {formatMetric(a.metric as MetricName, a.lastValue)} · since <When value={a.openedAt} style="time" />
          </span>
        </li>
      ))}
    </ul>
  );
}

export function LiveMonitor({ initial }: { initial: CurrentState }) {
  const trpc = useTRPC();
  const { data = initial, isError } = useQuery(trpc.metrics.current.queryOptions(undefined, liveRefresh(initial)));
  return (
    <div className="space-y-5">
      <section>
        <div className="mb-2 flex flex-wrap items-baseline justify-between gap-2">
          <h2 className="text-base font-semibold">Host</h2>
          <span>
            <Freshness ageMs={data.host.ageMs} intervalMs={data.intervalMs} sampledAt={data.host.ts} />
            {isError && <span className="ml-2 text-xs text-red-600">refresh failed, retrying</span>}
          </span>
        </div>
        <HostTiles state={data} />
      </section>
      {data.filesystems.length > 0 && (
        <section>
          <h2 className="mb-2 text-base font-semibold">Filesystems</h2>
          <ul className="grid gap-1 text-sm sm:grid-cols-2" data-testid="filesystems">
            {data.filesystems.map((fs) => (
              <li key={fs.path} className="flex justify-between gap-2 rounded border border-gray-200 px-2 py-1 dark:border-gray-800">
                <span className="truncate font-mono text-xs">{fs.path}</span>
                <span className="tabular-nums">
                  {formatMetric("fsPct", fs.values.fsPct)} <span className="text-gray-500">of {formatMetric("fsSizeBytes", fs.values.fsSizeBytes)}</span>
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section>
        <h2 className="mb-2 text-base font-semibold">Running VMs</h2>
        {data.vms.length === 0 ? (
          <p className="text-sm text-gray-500 dark:text-gray-400">No running VMs you can see.</p>
        ) : (
          <div className="grid grid-cols-2 gap-2 sm:grid-cols-3 lg:grid-cols-4" data-testid="vm-tiles">
            {data.vms.map((vm) => (
              <VmTile key={vm.id} vm={vm} alerts={data.alerts} intervalMs={data.intervalMs} href={`/vms/${vm.id}`} />
            ))}
          </div>
        )}
      </section>
      <section>
        <h2 className="mb-2 text-base font-semibold">Open alerts</h2>
        <OpenAlertList alerts={data.alerts} />
      </section>
    </div>
  );
}
