// One live value: label, current value, a sparkline and whether an alert on it is open.
import type { ReactNode } from "react";
import { Sparkline } from "./sparkline";

export type TileAlert = "WARNING" | "CRITICAL" | null;

const FRAME: Record<"none" | "WARNING" | "CRITICAL", string> = {
  none: "border-gray-200 dark:border-gray-800",
  WARNING: "border-amber-400 dark:border-amber-600",
  CRITICAL: "border-red-500 dark:border-red-600",
};

export function MetricTile({
  label,
  value,
  detail,
  trend,
  alert = null,
  testId,
}: {
  label: string;
  value: string;
  detail?: ReactNode;
  trend?: { t: number[]; values: (number | null)[]; maxGapMs: number; max?: number };
  alert?: TileAlert;
  testId?: string;
}) {
  return (
    <div data-testid={testId} className={`min-w-0 rounded-lg border bg-white p-3 dark:bg-gray-900 ${FRAME[alert ?? "none"]}`}>
      <div className="flex items-center justify-between gap-2 text-xs text-gray-500 dark:text-gray-400">
        <span className="truncate">{label}</span>
        {alert && (
          <span
            className={[
              "rounded-full px-1.5 py-0.5 text-[10px] font-semibold uppercase",
              alert === "CRITICAL"
                ? "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200"
                : "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200",
            ].join(" ")}
          >
            alert
          </span>
        )}
      </div>
      <div className="mt-1 truncate text-lg font-semibold tabular-nums" data-testid={testId ? `${testId}-value` : undefined}>
        {value}
      </div>
      {detail && <div className="truncate text-xs text-gray-500 dark:text-gray-400">{detail}</div>}
      {trend && <Sparkline {...trend} className="mt-1 h-6 w-full text-blue-500" />}
    </div>
  );
}

/** "updated 4 s ago", or a warning when the source stopped reporting. */
export function Freshness({ ageMs, intervalMs, sampledAt }: { ageMs: number | null; intervalMs: number; sampledAt?: number | null }) {
  if (ageMs === null) return <span className="text-xs text-gray-500">no data yet</span>;
  const s = Math.max(0, Math.round(ageMs / 1000));
  const stale = ageMs > 3 * intervalMs;
  return (
    <span
      className={`text-xs ${stale ? "font-medium text-amber-700 dark:text-amber-400" : "text-gray-500 dark:text-gray-400"}`}
      data-testid="freshness"
      data-sampled-at={sampledAt ?? undefined}
    >
      {stale ? "stale: " : ""}updated {s < 120 ? `${s} s` : `${Math.round(s / 60)} min`} ago
    </span>
  );
}
