import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { AdminSection } from "~/components/admin/admin-nav";
import { CatalogPanel } from "~/components/admin/catalog-panel";

export const metadata: Metadata = { title: "Admin · Catalog" };

export default async function AdminCatalogPage() {
  await requireAdmin("/admin/catalog");
  return (
    <AdminSection current="/admin/catalog">
      <CatalogPanel />
    </AdminSection>
  );
}
