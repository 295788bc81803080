"use client";
// The shell's open-alerts badge: visible on every page, links to /monitor.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "~/trpc/react";

export function OpenAlertsBadge() {
  const trpc = useTRPC();
  const { data: count } = useQuery(trpc.metrics.openAlertCount.queryOptions(undefined, { refetchInterval: 15_000 }));
  if (!count) return null;
  return (
    <Link
      href="/monitor"
      data-testid="open-alerts-badge"
      className="rounded-full bg-red-600 px-2 py-0.5 text-xs font-semibold text-white hover:bg-red-700"
      title="Open alerts"
    >
      {count} alert{count === 1 ? "" : "s"}
    </Link>
  );
}
