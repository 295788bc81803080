"use client";
// The VM list: cards on a phone, a table from `md` up. Polls while anything is busy.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { JobProgress } from "./progress-bar";
import { formatCredits, VmStateBadge } from "./state-badge";
import { VmActions } from "./vm-actions";

type VmRow = inferRouterOutputs<AppRouter>["vms"]["list"][number];

export function VmList({ initial, showOwner }: { initial: VmRow[]; showOwner: boolean }) {
  const trpc = useTRPC();
  const { data = initial } = useQuery(
    trpc.vms.list.queryOptions(undefined, {
      initialData: initial,
      refetchInterval: (q) => ((q.state.data ?? []).some((v) => v.activeJob) ? 2000 : 10_000),
    }),
  );
  if (data.length === 0)
    return (
      <div className="rounded-lg border border-dashed border-gray-300 p-8 text-center text-gray-600 dark:border-gray-700 dark:text-gray-300">
        No VMs yet.{" "}
        <Link href="/vms/new" className="font-medium text-blue-600 hover:underline dark:text-blue-400">
          Launch one
        </Link>
        .
      </div>
    );
  return (
    <>
      <ul className="space-y-3 md:hidden" data-testid="vm-cards">
        {data.map((vm) => (
          <li key={vm.id} className="rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900" data-testid="vm-row">
            <div className="flex items-center justify-between gap-2">
              <Link href={`/vms/${vm.id}`} className="truncate font-medium text-blue-700 hover:underline dark:text-blue-300">
                {vm.name}
              </Link>
              <VmStateBadge state={vm.state} />
            </div>
            <p className="mt-1 text-xs text-gray-500 dark:text-gray-400">
              {vm.boxName} · {vm.cpus} vCPU · {vm.ramMb} MB · {vm.diskGb} GB · {formatCredits(vm.hourlyCost)}/h
              {showOwner && ` · ${vm.ownerEmail}`}
            </p>
            {vm.ipAddress && <p className="mt-1 font-mono text-xs">{vm.ipAddress}</p>}
            {vm.activeJob && (
              <div className="mt-2">
                <JobProgress kind={vm.activeJob.kind} step={vm.activeJob.step} progress={vm.activeJob.progress} />
              </div>
            )}
            {vm.state === "ERROR" && vm.error && <p className="mt-1 line-clamp-2 text-xs text-red-700 dark:text-red-300">{vm.error}</p>}
            <div className="mt-2">
              <VmActions vm={vm} compact />
            </div>
          </li>
        ))}
      </ul>
      <div className="hidden overflow-x-auto rounded-lg border border-gray-200 bg-white md:block dark:border-gray-800 dark:bg-gray-900">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-gray-200 text-xs uppercase text-gray-500 dark:border-gray-800 dark:text-gray-400">
            <tr>
              <th className="px-3 py-2">Name</th>
              <th className="px-3 py-2">State</th>
              <th className="px-3 py-2">Spec</th>
              <th className="px-3 py-2">Address</th>
              {showOwner && <th className="px-3 py-2">Owner</th>}
              <th className="px-3 py-2">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.map((vm) => (
              <tr key={vm.id} className="border-b border-gray-100 align-top last:border-0 dark:border-gray-800" data-testid="vm-row">
                <td className="px-3 py-2">
                  <Link href={`/vms/${vm.id}`} className="font-medium text-blue-700 hover:underline dark:text-blue-300">
                    {vm.name}
                  </Link>
                  <div className="text-xs text-gray-500 dark:text-gray-400">{vm.boxName}</div>
                </td>
                <td className="w-56 px-3 py-2">
                  <VmStateBadge state={vm.state} />
                  {vm.activeJob && (
                    <div className="mt-1.5">
                      <JobProgress kind={vm.activeJob.kind} step={vm.activeJob.step} progress={vm.activeJob.progress} />
                    </div>
                  )}
                  {vm.state === "ERROR" && vm.error && <div className="mt-1 line-clamp-2 text-xs text-red-700 dark:text-red-300">{vm.error}</div>}
                </td>
                <td className="px-3 py-2 text-xs text-gray-600 dark:text-gray-300">
                  {vm.cpus} vCPU · {vm.ramMb} MB · {vm.diskGb} GB
                  <div className="text-gray-500 dark:text-gray-400">{formatCredits(vm.hourlyCost)} credits/h</div>
                </td>
                <td className="px-3 py-2 font-mono text-xs">{vm.ipAddress ?? "—"}</td>
                {showOwner && <td className="px-3 py-2 text-xs">{vm.ownerEmail}</td>}
                <td className="px-3 py-2">
                  <VmActions vm={vm} compact />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
