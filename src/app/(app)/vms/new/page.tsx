import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { BalanceBanner } from "~/components/vms/balance-banner";
import { HostStatusBanner } from "~/components/vms/host-status";
import { LaunchForm } from "~/components/vms/launch-form";

export const metadata: Metadata = { title: "Launch a VM" };

export default async function NewVmPage() {
  await requireActor("/vms/new");
  const trpc = await api();
  const catalog = await trpc.vms.catalog();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Launch a VM</h1>
      <HostStatusBanner />
      <BalanceBanner />
      <LaunchForm catalog={catalog} />
    </div>
  );
}
