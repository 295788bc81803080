"use client";
// Every VM with owner/state filters and stop/start/destroy, plus the emergency
// stop-all behind a typed phrase; the jobs it queues show their progress below.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { VmState } from "~/generated/prisma/sqlite/enums";
import { useTRPC } from "~/trpc/react";
import { VmStateBadge } from "~/components/vms/state-badge";
import { JobProgress } from "~/components/vms/progress-bar";
import { btn, btnDanger, card, field } from "./admin-nav";

const STATES: VmState[] = ["PENDING", "CREATING", "RUNNING", "STOPPING", "STOPPED", "STARTING", "RESTARTING", "DESTROYING", "DESTROYED", "ERROR"];

export function VmsPanel({ stopAllPhrase }: { stopAllPhrase: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [owner, setOwner] = useState("");
  const [state, setState] = useState<VmState | "">("");
  const [phrase, setPhrase] = useState("");
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const vms = useQuery(trpc.admin.vms.queryOptions({ owner: owner || undefined, state: state || undefined }, { refetchInterval: 3000 }));
  const jobs = useQuery(trpc.admin.jobs.queryOptions({ sinceMinutes: 30 }, { refetchInterval: 2000 }));
  const opts = { onSuccess: () => void qc.invalidateQueries({ queryKey: trpc.admin.pathKey() }), onError: (e: { message: string }) => setMessage(e.message) };
  const stop = useMutation(trpc.admin.vmStop.mutationOptions(opts));
  const start = useMutation(trpc.admin.vmStart.mutationOptions(opts));
  const destroy = useMutation(trpc.admin.vmDestroy.mutationOptions(opts));
  const stopAll = useMutation(
    trpc.admin.stopAll.mutationOptions({
      ...opts,
      onSuccess: (r) => (
        setMessage(`Stopping ${r.requested.length} VM(s)${r.skipped.length ? `; ${r.skipped.length} skipped (busy)` : ""}.`),
        setPhrase(""),
        opts.onSuccess()
      ),
    }),
  );

  return (
    <div className="space-y-4">
      <div className={`${card} space-y-2 border-red-300 p-3 dark:border-red-900`}>
        <h2 className="font-medium text-red-700 dark:text-red-300">Emergency: stop all running VMs</h2>
        <div className="flex flex-wrap gap-2">
          <input
            value={phrase}
            onChange={(e) => setPhrase(e.target.value)}
            placeholder={`Type ${stopAllPhrase}`}
            className={`${field} min-w-0 flex-1`}
            aria-label="Confirmation phrase"
            data-testid="stop-all-phrase"
          />
          <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="Reason" className={`${field} min-w-0 flex-1`} aria-label="Reason" />
          <button
            className={btnDanger}
            disabled={phrase !== stopAllPhrase || stopAll.isPending}
            onClick={() => stopAll.mutate({ confirm: phrase, reason })}
            data-testid="stop-all"
          >
            Stop all
          </button>
        </div>
      </div>
      {message && (
        <p className="rounded bg-amber-50 p-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100" role="status">
          {message}
        </p>
      )}
      {jobs.data && jobs.data.jobs.length > 0 && (
        <div className={`${card} p-3`} data-testid="admin-jobs">
          <h2 className="text-sm font-medium">
            Jobs (30 min): {jobs.data.counts.queued} queued, {jobs.data.counts.running} running, {jobs.data.counts.succeeded} done, {jobs.data.counts.failed}{" "}
            failed
          </h2>
          <ul className="mt-2 max-h-64 space-y-2 overflow-auto">
            {jobs.data.jobs.map((j) => (
              <li key={j.id} className="text-xs">
                <div className="flex justify-between gap-2">
                  <span className="truncate">
                    {j.vm.name} ({j.vm.owner.email})
                  </span>
                  <span>{j.state.toLowerCase()}</span>
                </div>
                {(j.state === "QUEUED" || j.state === "RUNNING") && <JobProgress kind={j.kind} step={j.step} progress={j.progress} />}
              </li>
            ))}
          </ul>
        </div>
      )}
      <div className="flex flex-wrap gap-2">
        <input value={owner} onChange={(e) => setOwner(e.target.value)} placeholder="Owner email" className={`${field} min-w-0 flex-1`} aria-label="Owner" />
        <select value={state} onChange={(e) => setState(e.target.value as VmState | "")} className={field} aria-label="State">
          <option value="">Any state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s.toLowerCase()}
            </option>
          ))}
        </select>
      </div>
      <ul className={`${card} divide-y divide-gray-100 dark:divide-gray-800`} data-testid="admin-vms">
        {vms.data?.length === 0 && <li className="p-4 text-center text-sm text-gray-500">No VMs match.</li>}
        {vms.data?.map((vm) => (
          <li key={vm.id} className="flex flex-wrap items-center gap-2 p-3 text-sm">
            <span className="min-w-0 flex-1 truncate">
              <span className="font-medium">{vm.name}</span>{" "}
              <span className="text-gray-500">
                · {vm.ownerEmail} · {vm.cpus} vCPU · {vm.ramMb} MB
              </span>
            </span>
            <VmStateBadge state={vm.state} />
            {vm.actions.includes("start") && (
              <button className={btn} onClick={() => start.mutate({ vmId: vm.id })}>
                Start
              </button>
            )}
            {vm.actions.includes("stop") && (
              <button className={btn} onClick={() => stop.mutate({ vmId: vm.id })}>
                Stop
              </button>
            )}
            {vm.actions.includes("destroy") && (
              <button
                className={btnDanger}
                onClick={() => window.prompt(`Destroy ${vm.name} of ${vm.ownerEmail}? Type the VM name:`) === vm.name && destroy.mutate({ vmId: vm.id })}
              >
                Destroy
              </button>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
