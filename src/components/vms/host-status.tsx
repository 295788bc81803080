"use client";
// Whether this host can run VM actions now. While it cannot, a banner says
// what is missing and how to fix it, and the action buttons are disabled; the
// server refuses the actions with the same message either way.
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "~/trpc/react";

export function useVmActionsStatus(): { enabled: boolean; message: string | null } {
  const trpc = useTRPC();
  const { data } = useQuery(trpc.vms.actionsStatus.queryOptions(undefined, { refetchInterval: 30_000 }));
  // Until the answer arrives, let the server decide.
  return data ?? { enabled: true, message: null };
}

export function HostStatusBanner() {
  const { enabled, message } = useVmActionsStatus();
  if (enabled) return null;
  return (
    <div
      role="alert"
      data-testid="host-not-ready"
      className="rounded-lg border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
    >
      {message}
    </div>
  );
}
