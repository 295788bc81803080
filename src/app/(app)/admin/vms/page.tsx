import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { STOP_ALL_PHRASE } from "~/server/api/routers/admin";
import { AdminSection } from "~/components/admin/admin-nav";
import { VmsPanel } from "~/components/admin/vms-panel";

export const metadata: Metadata = { title: "Admin · VMs" };

export default async function AdminVmsPage() {
  await requireAdmin("/admin/vms");
  return (
    <AdminSection current="/admin/vms">
      <VmsPanel stopAllPhrase={STOP_ALL_PHRASE} />
    </AdminSection>
  );
}
