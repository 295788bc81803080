import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { TRPCError } from "@trpc/server";
import { requireActor } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { VmDetails } from "~/components/vms/vm-details";

export const metadata: Metadata = { title: "VM" };

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireActor(`/vms/${id}`);
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
      <VmDetails initial={vm} />
    </div>
  );
}
