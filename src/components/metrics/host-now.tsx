"use client";
// The dashboard's "Host now" figures, refreshed as /monitor refreshes its tiles
// (the same query, at the sampler's pace), so they never sit at page-load values.
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "~/trpc/react";
import { liveRefresh } from "./live-refresh";
import { formatMetric } from "~/server/metrics/format";
import type { CurrentState } from "./types";

const SHOWN = [
  ["cpuPct", "CPU"],
  ["memPct", "Memory"],
  ["fsPct", "Disk"],
  ["swapPct", "Swap"],
] as const;

export function HostNow({ initial }: { initial: CurrentState }) {
  const trpc = useTRPC();
  const { data: now = initial } = useQuery(trpc.metrics.current.queryOptions(undefined, liveRefresh(initial)));
  const stale = now.host.ageMs === null || now.host.ageMs > now.intervalMs * 3;
  if (stale) return <p className="text-sm text-gray-500">No recent reading from the sampler.</p>;
  return (
    <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-4" data-testid="host-now" data-ts={now.host.ts ?? ""}>
      {SHOWN.map(([m, label]) => (
        <div key={m} className="min-w-0">
          <dt className="text-gray-500">{label}</dt>
          <dd className="text-lg font-semibold tabular-nums">{formatMetric(m, now.host.values[m])}</dd>
        </div>
      ))}
    </dl>
  );
}
