import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { STOP_ALL_PHRASE } from "~/server/api/routers/admin";
import { AdminSection } from "~/components/admin/admin-nav";
import { VmsPanel } from "~/components/admin/vms-panel";
import { QueuePanel } from "~/components/admin/queue-panel";

export const metadata: Metadata = { title: "Admin · VMs" };

export default async function AdminVmsPage() {
  await requireAdmin("/admin/vms");
  return (
    <AdminSection current="/admin/vms">
      <div className="space-y-4">
        <QueuePanel />
        <VmsPanel stopAllPhrase={STOP_ALL_PHRASE} />
      </div>
    </AdminSection>
  );
}
