import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { AdminSection } from "~/components/admin/admin-nav";
import { AuditPanel } from "~/components/admin/audit-panel";

export const metadata: Metadata = { title: "Admin · Audit log" };

export default async function AdminAuditPage() {
  await requireAdmin("/admin/audit");
  return (
    <AdminSection current="/admin/audit">
      <AuditPanel />
    </AdminSection>
  );
}
