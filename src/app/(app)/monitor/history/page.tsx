import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { isAdmin } from "~/server/permissions";
import { HostDeviceHistoryCharts, HostHistoryCharts } from "~/components/metrics/history-charts";
import { MonitorNav } from "~/components/metrics/monitor-nav";
import { parseRange, RangePicker } from "~/components/metrics/range-picker";

export const metadata: Metadata = { title: "Monitor history" };

export default async function MonitorHistoryPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requireActor("/monitor/history");
  const range = parseRange((await searchParams).range);
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Host history</h1>
      <MonitorNav current="history" showAdmin={isAdmin(actor)} />
      <RangePicker current={range} basePath="/monitor/history" />
      <HostHistoryCharts range={range} />
      <HostDeviceHistoryCharts range={range} />
    </div>
  );
}
