"use client";
// The audit log, read-only: filters by admin, action, target and time.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTRPC } from "~/trpc/react";
import { btn, card, field } from "./admin-nav";
import { When } from "~/components/shell/when";

interface AuditFilter {
  actor?: string;
  action?: string;
  targetId?: string;
  from?: Date;
  to?: Date;
}

export function AuditPanel() {
  const trpc = useTRPC();
  const [filter, setFilter] = useState<AuditFilter>({});
  const [open, setOpen] = useState<string | null>(null);
  const log = useInfiniteQuery(
    trpc.admin.audit.infiniteQueryOptions({ ...filter, limit: 50 }, { getNextPageParam: (p) => p.nextCursor, refetchInterval: 10_000 }),
  );
  const rows = log.data?.pages.flatMap((p) => p.items) ?? [];
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? "").trim() || undefined;
    const d = (k: string) => (s(k) ? new Date(s(k)!) : undefined);
    setFilter({ actor: s("actor"), action: s("action"), targetId: s("targetId"), from: d("from"), to: d("to") });
  };
  return (
    <div className="space-y-3">
      <form onSubmit={onSubmit} className={`${card} grid grid-cols-2 gap-2 p-3 sm:grid-cols-3 lg:grid-cols-6`}>
        <input name="actor" placeholder="Admin email or id" className={field} aria-label="Admin" />
        <input name="action" placeholder="Action, e.g. setRole" className={field} aria-label="Action" />
        <input name="targetId" placeholder="Target id" className={field} aria-label="Target" />
        <input name="from" type="datetime-local" className={field} aria-label="From" />
        <input name="to" type="datetime-local" className={field} aria-label="To" />
        <button className={btn}>Filter</button>
      </form>
      <ul className={`${card} divide-y divide-gray-100 dark:divide-gray-800`} data-testid="audit-log">
        {rows.length === 0 && !log.isPending && <li className="p-4 text-center text-sm text-gray-500">No entries.</li>}
        {rows.map((r) => (
          <li key={r.id}>
            <button
              type="button"
              onClick={() => setOpen(open === r.id ? null : r.id)}
              className="flex w-full flex-col gap-1 p-3 text-left text-sm hover:bg-gray-50 sm:flex-row sm:gap-3 dark:hover:bg-gray-800/60"
            >
              <When value={r.createdAt} className="shrink-0 font-mono text-xs text-gray-500 sm:w-44" />
              <span className="shrink-0 font-medium sm:w-48">{r.action}</span>
              <span className="min-w-0 flex-1 truncate">{r.actorEmail}</span>
              <span className="shrink-0 font-mono text-xs text-gray-500">
                {r.targetType}
                {r.targetId ? ` ${r.targetId}` : ""}
              </span>
            </button>
            {open === r.id && (
              <div className="grid gap-2 px-3 pb-3 md:grid-cols-2">
                {(["before", "after"] as const).map((k) => (
                  <div key={k}>
                    <h3 className="text-xs font-medium text-gray-500">{k}</h3>
                    <pre className="max-h-72 overflow-auto rounded bg-gray-100 p-2 text-xs dark:bg-gray-950">{JSON.stringify(r[k] ?? null, null, 2)}</pre>
                  </div>
                ))}
              </div>
            )}
          </li>
        ))}
      </ul>
      {log.hasNextPage && (
        <button className={`${btn} w-full py-2`} onClick={() => void log.fetchNextPage()} disabled={log.isFetchingNextPage}>
          Older entries
        </button>
      )}
    </div>
  );
}
