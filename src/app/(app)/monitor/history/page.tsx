import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { isAdmin } from "~/server/permissions";
import { HostDeviceHistoryCharts, HostHistoryCharts } from "~/components/metrics/history-charts";
import { MonitorNav } from "~/components/metrics/monitor-nav";
import { parseRange, RangePicker } from "~/components/metrics/range-picker";
import { api } from "~/trpc/server";

export const metadata: Metadata = { title: "Monitor history" };

export default async function MonitorHistoryPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requireActor("/monitor/history");
  const asked = (await searchParams).range;
  // No range in the URL: the smallest one that holds the data (up to 24 h).
  const range = parseRange(asked, typeof asked === "string" ? "24h" : await (await api()).metrics.hostDefaultRange());
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
