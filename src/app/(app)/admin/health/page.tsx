import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { AdminSection } from "~/components/admin/admin-nav";
import { HealthPanel } from "~/components/admin/health-panel";

export const metadata: Metadata = { title: "Admin · Health" };

export default async function AdminHealthPage() {
  await requireAdmin("/admin/health");
  const health = await (await api()).admin.health();
  return (
    <AdminSection current="/admin/health">
      <HealthPanel initial={health} />
    </AdminSection>
  );
}
