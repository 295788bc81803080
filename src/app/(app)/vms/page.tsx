import type { Metadata } from "next";
import Link from "next/link";
import { requireActor } from "~/server/auth/guard";
import { canListAllVms } from "~/server/permissions";
import { api } from "~/trpc/server";
import { BalanceBanner } from "~/components/vms/balance-banner";
import { HostStatusBanner } from "~/components/vms/host-status";
import { VmList } from "~/components/vms/vm-list";

export const metadata: Metadata = { title: "VMs" };

export default async function VmsPage() {
  const actor = await requireActor("/vms");
  const trpc = await api();
  const vms = await trpc.vms.list();
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-xl font-semibold">VMs</h1>
        <Link href="/vms/new" className="rounded bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-700" data-testid="launch-link">
          Launch VM
        </Link>
      </div>
      <HostStatusBanner />
      <BalanceBanner />
      <VmList initial={vms} showOwner={canListAllVms(actor)} />
    </div>
  );
}
