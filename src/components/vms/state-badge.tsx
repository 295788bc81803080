// A VM's state as a coloured badge; busy states pulse.
import type { VmState } from "~/generated/prisma/sqlite/enums";

const STYLE: Record<VmState, string> = {
  PENDING: "bg-gray-100 text-gray-700 dark:bg-gray-800 dark:text-gray-200",
  CREATING: "bg-blue-100 text-blue-800 dark:bg-blue-950 dark:text-blue-200",
  STARTING: "bg-blue-100 text-blue-800 dark:bg-blue-950 dark:text-blue-200",
  RESTARTING: "bg-blue-100 text-blue-800 dark:bg-blue-950 dark:text-blue-200",
  RUNNING: "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200",
  STOPPING: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200",
  STOPPED: "bg-gray-200 text-gray-800 dark:bg-gray-800 dark:text-gray-200",
  DESTROYING: "bg-rose-100 text-rose-800 dark:bg-rose-950 dark:text-rose-200",
  DESTROYED: "bg-gray-100 text-gray-500 line-through dark:bg-gray-900 dark:text-gray-500",
  ERROR: "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
};
const BUSY = new Set<VmState>(["CREATING", "STARTING", "RESTARTING", "STOPPING", "DESTROYING"]);

export function VmStateBadge({ state }: { state: VmState }) {
  return (
    <span data-testid="vm-state" className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ${STYLE[state]}`}>
      {BUSY.has(state) && <span className="h-1.5 w-1.5 animate-pulse rounded-full bg-current" aria-hidden />}
      {state.toLowerCase()}
    </span>
  );
}

export function formatCredits(value: number): string {
  return value.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function formatDuration(totalSeconds: number): string {
  const d = Math.floor(totalSeconds / 86400);
  const h = Math.floor((totalSeconds % 86400) / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}
