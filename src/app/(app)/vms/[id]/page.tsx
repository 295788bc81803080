import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { TRPCError } from "@trpc/server";
import { requireActor } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { HostStatusBanner } from "~/components/vms/host-status";
import { VmDetails } from "~/components/vms/vm-details";
import { VmTerminal } from "~/components/vms/vm-terminal";
import { VmLiveTiles } from "~/components/metrics/vm-live-tiles";
import { VmHistoryCharts } from "~/components/metrics/history-charts";
import { parseRange, RangePicker } from "~/components/metrics/range-picker";

export const metadata: Metadata = { title: "VM" };

export default async function VmPage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { id } = await params;
  await requireActor(`/vms/${id}`);
  const range = parseRange((await searchParams).range, "1h");
  const trpc = await api();
  const vm = await trpc.vms.get({ id }).catch((err: unknown) => {
    // Someone else's VM looks exactly like a missing one.
    if (err instanceof TRPCError && (err.code === "NOT_FOUND" || err.code === "BAD_REQUEST")) notFound();
    throw err;
  });
  return (
    <div className="space-y-3">
      <Link href="/vms" className="text-sm text-blue-700 hover:underline dark:text-blue-300">
        ← All VMs
      </Link>
      <HostStatusBanner />
      <VmDetails initial={vm} />
      {vm.state !== "DESTROYED" && <VmTerminal vmId={vm.id} initialState={vm.state} />}
      {vm.state !== "DESTROYED" && (
        <section className="space-y-3" aria-labelledby="vm-metrics">
          <h2 id="vm-metrics" className="text-lg font-semibold">
            Metrics
          </h2>
          <VmLiveTiles vmId={vm.id} />
          <RangePicker current={range} basePath={`/vms/${vm.id}`} />
          <VmHistoryCharts vmId={vm.id} range={range} />
        </section>
      )}
    </div>
  );
}
