// An event's severity as a coloured badge (also used by the admin console).
import type { Severity } from "~/server/events/record";

const STYLE: Record<Severity, string> = {
  INFO: "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-200",
  WARNING: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200",
  CRITICAL: "bg-red-600 text-white dark:bg-red-700",
};

export function SeverityBadge({ severity }: { severity: Severity }) {
  return (
    <span data-testid="event-severity" className={`inline-flex rounded-full px-2 py-0.5 text-xs font-semibold ${STYLE[severity]}`}>
      {severity.toLowerCase()}
    </span>
  );
}

/** The row accent for a severity, so critical events stand out in a long list. */
export const SEVERITY_ROW: Record<Severity, string> = {
  INFO: "border-l-4 border-l-transparent",
  WARNING: "border-l-4 border-l-amber-400",
  CRITICAL: "border-l-4 border-l-red-600 bg-red-50 dark:bg-red-950/40",
};
