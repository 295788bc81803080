"use client";
// The whole job queue for admins: what runs, what waits in each lane and in
// which order, with each entry's estimate; an entry can be moved to the front
// or the back of its lane, or cancelled.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "~/trpc/react";
import { JobProgress } from "~/components/vms/progress-bar";
import { estimateText } from "~/components/vms/queue-place";
import { btn, btnDanger, card } from "./admin-nav";

const GiB = 1024 ** 3;

export function QueuePanel() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);
  const queue = useQuery(trpc.admin.queue.queryOptions(undefined, { refetchInterval: 2000 }));
  const opts = {
    onSuccess: () => (setMessage(null), void qc.invalidateQueries({ queryKey: trpc.admin.pathKey() })),
    onError: (e: { message: string }) => setMessage(e.message),
  };
  const move = useMutation(trpc.admin.queueMove.mutationOptions(opts));
  const cancel = useMutation(trpc.admin.queueCancel.mutationOptions(opts));
  const q = queue.data;
  if (!q) return null;
  const busy = move.isPending || cancel.isPending;
  return (
    <section className={`${card} space-y-2 p-3`} data-testid="admin-queue">
      <h2 className="text-sm font-medium">
        Job queue: {q.running.length} running, {q.queued.length} waiting
      </h2>
      <p className="text-xs text-gray-500 dark:text-gray-400" data-testid="admin-queue-limits">
        At once: {q.limits.starting} creates, starts and restarts (
        {q.limitSource === "setting" ? "VM_MAX_PARALLEL_JOBS" : `from this host: ${q.host.cores} cores, ${Math.round(q.host.memoryBytes / GiB)} GiB`}) and, in
        their own lane, {q.limits.stopping} stops and destroys.
      </p>
      {message && (
        <p className="rounded bg-amber-50 p-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100" role="status">
          {message}
        </p>
      )}
      {q.running.length > 0 && (
        <ul className="space-y-2">
          {q.running.map((j) => (
            <li key={j.id} className="text-xs" data-testid="admin-queue-running">
              <div className="flex flex-wrap items-center justify-between gap-2">
                <span className="truncate">
                  {j.vmName} ({j.ownerEmail}) · {j.kind.toLowerCase()} · running{j.cancelRequestedAt ? " · cancelling" : ""}
                </span>
                {j.kind === "CREATE" && !j.cancelRequestedAt && (
                  <button className={btnDanger} disabled={busy} onClick={() => cancel.mutate({ jobId: j.id })}>
                    Cancel
                  </button>
                )}
              </div>
              <JobProgress kind={j.kind} step={j.step} progress={j.progress} />
            </li>
          ))}
        </ul>
      )}
      {q.queued.length > 0 && (
        <ol className="divide-y divide-gray-100 dark:divide-gray-800">
          {q.queued.map((j) => (
            <li key={j.id} className="flex flex-wrap items-center gap-2 py-2 text-xs" data-testid="admin-queue-entry">
              <span className="w-20 shrink-0 font-medium tabular-nums">
                {j.lane === "stopping" ? "stop lane" : "start lane"} #{j.place?.position ?? "?"}
              </span>
              <span className="min-w-0 flex-1">
                <span className="font-medium">{j.vmName}</span> ({j.ownerEmail}) · {j.kind.toLowerCase()}
                {j.priority !== 0 ? ` · moved ${j.priority > 0 ? "up" : "down"}` : ""}
                {j.place && <span className="block text-gray-500 dark:text-gray-400">{estimateText(j.place, j.kind)}</span>}
              </span>
              <button className={btn} disabled={busy} onClick={() => move.mutate({ jobId: j.id, to: "front" })} data-testid="admin-queue-front">
                Run next
              </button>
              <button className={btn} disabled={busy} onClick={() => move.mutate({ jobId: j.id, to: "back" })}>
                To the back
              </button>
              <button className={btnDanger} disabled={busy} onClick={() => cancel.mutate({ jobId: j.id })} data-testid="admin-queue-cancel">
                Cancel
              </button>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
