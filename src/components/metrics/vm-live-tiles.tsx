"use client";
// A VM's live tiles for its page (/vms/[id]): CPU, memory, disk and network,
// refreshed every few seconds.
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "~/trpc/react";
import { formatMetric } from "~/server/metrics/format";
import type { MetricName } from "~/server/metrics/catalog";
import { Freshness, MetricTile } from "./metric-tile";

export function VmLiveTiles({ vmId }: { vmId: string }) {
  const trpc = useTRPC();
  const { data, isPending, isError, error } = useQuery(trpc.metrics.vmCurrent.queryOptions({ vmId }, { refetchInterval: 5000 }));
  if (isPending) return <p className="text-sm text-gray-500">Loading live metrics…</p>;
  if (isError) return <p className="text-sm text-red-600">{error.message}</p>;
  const v = data.values;
  const gap = data.intervalMs * 2.5;
  const trend = (m: MetricName, max?: number) => ({ t: data.trend.t, values: data.trend.values[m] ?? [], maxGapMs: gap, max });
  const alertOn = (m: MetricName) => {
    const open = data.alerts.filter((a) => a.metric === m);
    return open.length === 0 ? null : open.some((a) => a.severity === "CRITICAL") ? "CRITICAL" : "WARNING";
  };
  return (
    <div className="space-y-2" data-testid="vm-live-tiles">
      <Freshness ageMs={data.ageMs} intervalMs={data.intervalMs} sampledAt={data.ts} />
      {data.unavailable && (
        <p role="status" className="text-sm font-medium text-amber-700 dark:text-amber-400" data-testid="vm-metrics-unavailable">
          Readings unavailable: {data.unavailable.reason}
        </p>
      )}
      <div className="grid grid-cols-2 gap-2 sm:grid-cols-3">
        <MetricTile testId="vm-tile-cpu" label="CPU" value={formatMetric("cpuPct", v.cpuPct)} trend={trend("cpuPct", 100)} alert={alertOn("cpuPct")} />
        <MetricTile
          testId="vm-tile-memory"
          label="Memory"
          value={formatMetric("memPct", v.memPct)}
          detail={`${formatMetric("memUsedBytes", v.memUsedBytes)} used · RSS ${formatMetric("rssBytes", v.rssBytes)}`}
          trend={trend("memPct", 100)}
          alert={alertOn("memPct")}
        />
        <MetricTile
          label="Disk read / write"
          value={formatMetric("diskReadBps", v.diskReadBps)}
          detail={`write ${formatMetric("diskWriteBps", v.diskWriteBps)}`}
          trend={trend("diskWriteBps")}
        />
        <MetricTile
          label="Network in / out"
          value={formatMetric("netRxBps", v.netRxBps)}
          detail={`out ${formatMetric("netTxBps", v.netTxBps)}`}
          trend={trend("netRxBps")}
        />
      </div>
    </div>
  );
}
