import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { MonitorAdmin } from "~/components/metrics/monitor-admin";
import { MonitorNav } from "~/components/metrics/monitor-nav";

export const metadata: Metadata = { title: "Monitoring admin" };

export default async function MonitorAdminPage() {
  await requireAdmin("/monitor/admin");
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Monitoring admin</h1>
      <MonitorNav current="admin" showAdmin />
      <MonitorAdmin />
    </div>
  );
}
