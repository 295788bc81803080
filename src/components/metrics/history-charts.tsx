// Server component: the history charts of the host or of one VM for a range,
// fetched through the same procedures (and permission checks) as the API.
import { api } from "~/trpc/server";
import { METRICS, type MetricName } from "~/server/metrics/catalog";
import { DEVICE_METRICS, type RangeKey } from "~/server/metrics/history";
import { BandChart, HistoryChart } from "./history-chart";
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

/**
 * One chart per watched filesystem (used %) and per network interface
 * (in/out bytes per second), for the same range and tier choice as the host's.
 */
export async function HostDeviceHistoryCharts({ range }: { range: RangeKey }) {
  const trpc = await api();
  const devices = await trpc.metrics.hostDevices({ range });
  const [filesystems, interfaces] = await Promise.all([
    Promise.all(
      devices.filesystems.map(async (fs) => ({ ...fs, h: await trpc.metrics.deviceHistory({ source: fs.source, metrics: [...DEVICE_METRICS.fs], range }) })),
    ),
    Promise.all(
      devices.interfaces.map(async (nic) => ({ ...nic, h: await trpc.metrics.deviceHistory({ source: nic.source, metrics: [...DEVICE_METRICS.net], range }) })),
    ),
  ]);
  return (
    <div className="space-y-4">
      <section className="space-y-2" data-testid="device-charts-fs">
        <h2 className="text-base font-semibold">Filesystems</h2>
        <div className="grid gap-3 md:grid-cols-2">
          {filesystems.map(({ path, h }) => (
            <HistoryChart
              key={path}
              testId={`chart-fs-${path}`}
              title={`${path} · ${METRICS.fsPct.label}`}
              unit={METRICS.fsPct.unit}
              series={{ t: h.t, ...h.series.fsPct! }}
            />
          ))}
        </div>
      </section>
      <section className="space-y-2" data-testid="device-charts-net">
        <h2 className="text-base font-semibold">Network interfaces</h2>
        {interfaces.length === 0 ? (
          <p className="text-sm text-gray-500 dark:text-gray-400">No interface has readings in this range.</p>
        ) : (
          <div className="grid gap-3 md:grid-cols-2">
            {interfaces.map(({ name, h }) => (
              <BandChart
                key={name}
                testId={`chart-net-${name}`}
                title={name}
                unit={METRICS.netRxBps.unit}
                t={h.t}
                series={[
                  { key: "netRxBps", name: METRICS.netRxBps.label, color: "blue", ...h.series.netRxBps! },
                  { key: "netTxBps", name: METRICS.netTxBps.label, color: "emerald", ...h.series.netTxBps! },
                ]}
              />
            ))}
          </div>
        )}
        {devices.interfacesOmitted > 0 && (
          <p className="text-xs text-gray-500 dark:text-gray-400">{devices.interfacesOmitted} more interfaces with readings in this range are not shown.</p>
        )}
      </section>
    </div>
  );
}
