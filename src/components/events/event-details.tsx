// Every field of one event, with its JSON details.
import Link from "next/link";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import type { ReactNode } from "react";
import { When } from "~/components/shell/when";
import { SeverityBadge } from "./severity-badge";

export type EventRow = inferRouterOutputs<AppRouter>["events"]["get"];

export function EventDetails({ event }: { event: EventRow }) {
  const fields: [string, ReactNode][] = [
    ["Time", <When key="time" value={event.createdAt} />],
    ["Type", event.type],
    ["Action", event.action],
    ["Actor", event.actorEmail ?? event.actorId],
    ["Target user", event.targetUserId],
    ["Target VM", event.targetVmId],
    ["Source IP", event.sourceIp],
    ["User agent", event.userAgent],
    ["Event id", event.id],
  ];
  return (
    <div className="space-y-3" data-testid="event-details">
      <div className="flex flex-wrap items-center gap-2">
        <SeverityBadge severity={event.severity} />
        {/* min-w-0: a flex item may shrink below its longest word, so break-words can wrap it inside the screen. */}
        <p className="min-w-0 font-medium break-words">{event.message}</p>
      </div>
      <dl className="grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[10rem_1fr]">
        {fields
          .filter(([, v]) => v)
          .map(([k, v]) => (
            <div key={k} className="contents">
              <dt className="text-gray-500 dark:text-gray-400">{k}</dt>
              <dd className="font-mono break-all">
                {k === "Target VM" ? (
                  <Link className="text-blue-700 hover:underline dark:text-blue-300" href={`/vms/${v}`}>
                    {v}
                  </Link>
                ) : (
                  v
                )}
              </dd>
            </div>
          ))}
      </dl>
      <pre className="max-h-96 overflow-auto rounded bg-gray-100 p-3 text-xs dark:bg-gray-950" data-testid="event-json">
        {JSON.stringify(event.details ?? null, null, 2)}
      </pre>
    </div>
  );
}
