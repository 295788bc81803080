"use client";
// The live feed: filters kept in the URL, keyset pages loaded on demand, the
// loaded pages refetched every few seconds so new events appear on their own.
import { useInfiniteQuery } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useMemo, useState, type FormEvent } from "react";
import { eventFilterFromSearchParams, eventFilterToSearchParams, type EventFilter } from "~/server/events/filter";
import { EVENT_TYPES, SEVERITIES } from "~/server/events/record";
import { useTRPC } from "~/trpc/react";
import { EventDetails } from "./event-details";
import { SEVERITY_ROW, SeverityBadge } from "./severity-badge";
import { When } from "~/components/shell/when";

const POLL_MS = 5000;
const input = "w-full rounded border border-gray-300 bg-white px-2 py-1.5 text-sm dark:border-gray-700 dark:bg-gray-900";

/** datetime-local works in local time without a zone; the URL keeps ISO. */
const toLocalInput = (d?: Date) => (d ? new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16) : "");

export function EventFeed({ query }: { query: string }) {
  const router = useRouter();
  const pathname = usePathname();
  const filter = useMemo(() => eventFilterFromSearchParams(new URLSearchParams(query)), [query]);
  const trpc = useTRPC();
  const [open, setOpen] = useState<string | null>(null);
  const feed = useInfiniteQuery(
    trpc.events.list.infiniteQueryOptions({ ...filter, limit: 50 }, { getNextPageParam: (page) => page.nextCursor, refetchInterval: POLL_MS }),
  );
  const events = feed.data?.pages.flatMap((p) => p.items) ?? [];

  const apply = (next: EventFilter) => router.replace(`${pathname}?${eventFilterToSearchParams(next).toString()}`, { scroll: false });
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const raw = new URLSearchParams();
    for (const [k, v] of form.entries()) {
      const s = String(v).trim();
      if (!s) continue;
      raw.set(k, k === "from" || k === "to" ? new Date(s).toISOString() : s);
    }
    apply(eventFilterFromSearchParams(raw));
  };
  const exportHref = (format: "csv" | "jsonl") =>
    `/api/events/export?${new URLSearchParams([["format", format], ...eventFilterToSearchParams(filter)]).toString()}`;

  return (
    <div className="space-y-4">
      <form
        key={query}
        onSubmit={onSubmit}
        className="grid grid-cols-2 gap-2 rounded-lg border border-gray-200 bg-white p-3 sm:grid-cols-4 dark:border-gray-800 dark:bg-gray-900"
        data-testid="event-filters"
      >
        <select name="type" defaultValue={filter.type ?? ""} className={input} aria-label="Type" onChange={(e) => e.currentTarget.form?.requestSubmit()}>
          <option value="">All types</option>
          {EVENT_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <select
          name="severity"
          defaultValue={filter.severity ?? ""}
          className={input}
          aria-label="Severity"
          onChange={(e) => e.currentTarget.form?.requestSubmit()}
        >
          <option value="">All severities</option>
          {SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {s.toLowerCase()}
            </option>
          ))}
        </select>
        <input name="from" type="datetime-local" defaultValue={toLocalInput(filter.from)} className={input} aria-label="From" />
        <input name="to" type="datetime-local" defaultValue={toLocalInput(filter.to)} className={input} aria-label="To" />
        <input name="user" defaultValue={filter.user ?? ""} placeholder="User email or id" className={input} aria-label="User" />
        <input name="vm" defaultValue={filter.vm ?? ""} placeholder="VM id" className={input} aria-label="VM" />
        <input
          name="q"
          defaultValue={filter.q ?? ""}
          placeholder="Search message, email, IP"
          className={`${input} col-span-2 sm:col-span-1`}
          aria-label="Search"
        />
        <div className="col-span-2 flex gap-2 sm:col-span-1">
          <button type="submit" className="flex-1 rounded bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-700">
            Filter
          </button>
          <button type="button" onClick={() => apply({})} className="rounded border border-gray-300 px-3 py-1.5 text-sm dark:border-gray-700">
            Clear
          </button>
        </div>
      </form>

      <div className="flex flex-wrap items-center justify-between gap-2 text-sm">
        <p className="text-gray-500 dark:text-gray-400">
          {feed.isPending ? "Loading…" : `${events.length}${feed.hasNextPage ? "+" : ""} event(s), newest first · live`}
          {feed.isError && <span className="ml-2 text-red-600">Could not load events: {feed.error.message}</span>}
        </p>
        <div className="flex gap-2">
          <a
            href={exportHref("csv")}
            className="rounded border border-gray-300 px-3 py-1.5 hover:bg-gray-50 dark:border-gray-700 dark:hover:bg-gray-800"
            data-testid="export-csv"
          >
            Export CSV
          </a>
          <a
            href={exportHref("jsonl")}
            className="rounded border border-gray-300 px-3 py-1.5 hover:bg-gray-50 dark:border-gray-700 dark:hover:bg-gray-800"
            data-testid="export-jsonl"
          >
            Export JSON lines
          </a>
        </div>
      </div>

      <ul
        className="divide-y divide-gray-100 overflow-hidden rounded-lg border border-gray-200 bg-white dark:divide-gray-800 dark:border-gray-800 dark:bg-gray-900"
        data-testid="event-list"
      >
        {events.length === 0 && !feed.isPending && <li className="p-6 text-center text-gray-500">No events match.</li>}
        {events.map((e) => (
          <li key={e.id} className={SEVERITY_ROW[e.severity]} data-testid="event-row">
            <button
              type="button"
              onClick={() => setOpen(open === e.id ? null : e.id)}
              className="flex w-full flex-col gap-1 px-3 py-2 text-left hover:bg-gray-50 sm:flex-row sm:items-center sm:gap-3 dark:hover:bg-gray-800/60"
              aria-expanded={open === e.id}
            >
              <When value={e.createdAt} className="shrink-0 font-mono text-xs text-gray-500 sm:w-44 dark:text-gray-400" />
              <span className="flex shrink-0 items-center gap-2 sm:w-40">
                <SeverityBadge severity={e.severity} />
                <span className="text-xs text-gray-500 dark:text-gray-400">{e.type}</span>
              </span>
              <span className="min-w-0 flex-1 text-sm break-words">{e.message}</span>
              {e.sourceIp && <span className="shrink-0 font-mono text-xs text-gray-500 dark:text-gray-400">{e.sourceIp}</span>}
            </button>
            {open === e.id && (
              <div className="border-t border-gray-100 bg-gray-50 p-3 dark:border-gray-800 dark:bg-gray-950/50">
                <EventDetails event={e} />
                <Link href={`/events/${e.id}`} className="mt-2 inline-block text-sm text-blue-700 hover:underline dark:text-blue-300">
                  Permalink
                </Link>
              </div>
            )}
          </li>
        ))}
      </ul>
      {feed.hasNextPage && (
        <button
          type="button"
          onClick={() => void feed.fetchNextPage()}
          disabled={feed.isFetchingNextPage}
          className="w-full rounded border border-gray-300 py-2 text-sm hover:bg-gray-50 disabled:opacity-50 dark:border-gray-700 dark:hover:bg-gray-800"
          data-testid="load-more"
        >
          {feed.isFetchingNextPage ? "Loading…" : "Older events"}
        </button>
      )}
    </div>
  );
}
