"use client";
// A queued job's place in line and its estimate (src/server/vms/queue-position.ts),
// and the button that cancels a queued job or a running create.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "~/trpc/react";
import { formatDuration } from "./state-badge";

const LANE_TEXT = { starting: "creates, starts and restarts", stopping: "stops and destroys" } as const;

const about = (ms: number) => `about ${formatDuration(Math.max(1, Math.round(ms / 1000)))}`;
const ordinal = (n: number) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th")}`;

/** Where this estimate comes from, in words. */
export function estimateText(
  place: { startsInMs: number | null; endsInMs: number | null; duration: { ms: number | null; samples: number } },
  kind: string,
): string {
  const what = kind.toLowerCase();
  if (place.startsInMs === null || place.endsInMs === null)
    return place.duration.ms === null
      ? `No estimate yet: no ${what} has finished on this host.`
      : "No estimate yet: a job ahead has no recent duration on this host.";
  const starts = place.startsInMs < 1000 ? "starts as soon as a slot frees" : `starts in ${about(place.startsInMs)}`;
  return `${starts}, done in ${about(place.endsInMs)} (a ${what} here takes ${about(place.duration.ms ?? 0)}, the median of the last ${place.duration.samples}).`;
}

export function QueuePlace({ vmId, kind }: { vmId: string; kind: string }) {
  const trpc = useTRPC();
  const { data: place } = useQuery(trpc.vms.queuePlace.queryOptions({ id: vmId }, { refetchInterval: 2000 }));
  if (!place) return null;
  return (
    <p
      className="rounded border border-blue-200 bg-blue-50 p-2 text-sm text-blue-900 dark:border-blue-900 dark:bg-blue-950/50 dark:text-blue-100"
      data-testid="queue-place"
    >
      <span className="font-medium" data-testid="queue-position">
        {place.position === 1 ? "Next in line" : `${ordinal(place.position)} in line`}
      </span>{" "}
      for {LANE_TEXT[place.lane]} ({place.ahead} ahead): {estimateText(place, kind)}
    </p>
  );
}

const CANCEL_BUTTON =
  "rounded border border-amber-400 px-3 py-1.5 text-sm font-medium text-amber-800 hover:bg-amber-50 disabled:opacity-50 " +
  "dark:border-amber-700 dark:text-amber-200 dark:hover:bg-amber-950";

/** Cancel for a queued job, or a running create; the server refuses anything else. */
export function CancelJobButton({ job, vmName }: { job: { id: string; kind: string; state: string }; vmName: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const cancel = useMutation(
    trpc.vms.cancelJob.mutationOptions({
      onSuccess: () => (setError(null), void queryClient.invalidateQueries({ queryKey: trpc.vms.pathKey() })),
      onError: (err) => setError(err.message),
    }),
  );
  const cancellable = job.state === "QUEUED" || (job.state === "RUNNING" && job.kind === "CREATE");
  if (!cancellable) return null;
  const what = job.kind.toLowerCase();
  return (
    <div className="flex flex-wrap items-center gap-2">
      <button
        type="button"
        disabled={cancel.isPending || cancel.isSuccess}
        onClick={() => cancel.mutate({ jobId: job.id })}
        data-testid="cancel-job"
        className={CANCEL_BUTTON}
        title={job.state === "QUEUED" ? `Drop the queued ${what}` : `End the running create of ${vmName} and destroy what it made`}
      >
        {cancel.isSuccess && job.state === "RUNNING" ? `Cancelling the ${what}…` : `Cancel ${what}`}
      </button>
      {error && (
        <span role="alert" className="text-sm text-red-700 dark:text-red-300">
          {error}
        </span>
      )}
    </div>
  );
}
