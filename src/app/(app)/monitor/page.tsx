import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { isAdmin } from "~/server/permissions";
import { api } from "~/trpc/server";
import { LiveMonitor } from "~/components/metrics/live-monitor";
import { MonitorNav } from "~/components/metrics/monitor-nav";

export const metadata: Metadata = { title: "Monitor" };

export default async function MonitorPage() {
  const actor = await requireActor("/monitor");
  const trpc = await api();
  const initial = await trpc.metrics.current();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Monitor</h1>
      <MonitorNav current="live" showAdmin={isAdmin(actor)} />
      <LiveMonitor initial={initial} />
    </div>
  );
}
