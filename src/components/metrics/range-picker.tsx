// The range as links (?range=…), so a URL always shows the same view.
import Link from "next/link";
import { RANGE_KEYS, type RangeKey } from "~/server/metrics/history";

export function parseRange(value: string | string[] | undefined, fallback: RangeKey = "24h"): RangeKey {
  return typeof value === "string" && (RANGE_KEYS as string[]).includes(value) ? (value as RangeKey) : fallback;
}

export function RangePicker({ current, basePath }: { current: RangeKey; basePath: string }) {
  return (
    <nav className="flex flex-wrap gap-1" aria-label="Range" data-testid="range-picker">
      {RANGE_KEYS.map((r) => (
        <Link
          key={r}
          href={`${basePath}?range=${r}`}
          aria-current={r === current ? "page" : undefined}
          className={[
            "rounded px-2.5 py-1 text-sm",
            r === current ? "bg-blue-600 text-white" : "bg-gray-100 text-gray-700 hover:bg-gray-200 dark:bg-gray-800 dark:text-gray-200 dark:hover:bg-gray-700",
          ].join(" ")}
        >
          {r}
        </Link>
      ))}
    </nav>
  );
}
