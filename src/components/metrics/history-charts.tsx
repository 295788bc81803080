// Server component: the history charts of the host or of one VM for a range,
// fetched through the same procedures (and permission checks) as the API.
import { api } from "~/trpc/server";
import { METRICS, type MetricName } from "~/server/metrics/catalog";
import type { RangeKey } from "~/server/metrics/history";
import { HistoryChart } from "./history-chart";
import type { HistoryData } from "./types";

export const HOST_CHARTS: MetricName[][] = [
  ["cpuPct", "memPct", "fsPct", "swapPct", "load1"],
  ["netRxBps", "netTxBps", "diskReadBps", "diskWriteBps"],
];
export const VM_CHARTS: MetricName[][] = [["cpuPct", "memPct", "netRxBps", "netTxBps", "diskReadBps", "diskWriteBps"]];

function Charts({ histories }: { histories: HistoryData[] }) {
  return (
    <div className="grid gap-3 md:grid-cols-2">
      {histories.flatMap((h) =>
        (Object.keys(h.series) as MetricName[]).map((m) => (
          <HistoryChart key={m} testId={`chart-${m}`} title={METRICS[m].label} unit={METRICS[m].unit} series={{ t: h.t, ...h.series[m]! }} />
        )),
      )}
    </div>
  );
}

function Resolution({ h }: { h: HistoryData | undefined }) {
  if (!h) return null;
  const step = h.stepMs >= 3_600_000 ? `${h.stepMs / 3_600_000} h` : h.stepMs >= 60_000 ? `${h.stepMs / 60_000} min` : `${h.stepMs / 1000} s`;
  return (
    <p className="text-xs text-gray-500 dark:text-gray-400" data-testid="history-resolution">
      {h.t.length} points of {step} from the {h.tier === "raw" ? "raw samples" : `${h.tier} rollups`}
    </p>
  );
}

export async function HostHistoryCharts({ range }: { range: RangeKey }) {
  const trpc = await api();
  const histories = await Promise.all(HOST_CHARTS.map((metrics) => trpc.metrics.hostHistory({ metrics, range })));
  return (
    <div className="space-y-2">
      <Resolution h={histories[0]} />
      <Charts histories={histories} />
    </div>
  );
}

/** A VM's charts, for /vms/[id]; throws NOT_FOUND for someone who may not see the VM. */
export async function VmHistoryCharts({ vmId, range }: { vmId: string; range: RangeKey }) {
  const trpc = await api();
  const histories = await Promise.all(VM_CHARTS.map((metrics) => trpc.metrics.vmHistory({ vmId, metrics, range })));
  return (
    <div className="space-y-2">
      <Resolution h={histories[0]} />
      <Charts histories={histories} />
    </div>
  );
}
