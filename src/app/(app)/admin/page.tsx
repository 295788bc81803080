import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { AdminSection } from "~/components/admin/admin-nav";
import { UsersPanel } from "~/components/admin/users-panel";

export const metadata: Metadata = { title: "Admin · Users" };

export default async function AdminUsersPage() {
  const admin = await requireAdmin("/admin");
  return (
    <AdminSection current="/admin">
      <UsersPanel selfId={admin.id} />
    </AdminSection>
  );
}
