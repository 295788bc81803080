"use client";
// One metric over time with Tremor: the average as the main line, min and max
// as the light lines around it (the band). A bucket without data is null and
// the lines break there, so a gap in collection shows as a gap.
import { LineChart } from "@tremor/react";
import { formatValue } from "~/server/metrics/format";
import type { MetricUnit } from "~/server/metrics/catalog";

export interface ChartSeries {
  t: number[];
  avg: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

function timeLabel(t: number, spanMs: number): string {
  const d = new Date(t);
  // UTC on purpose: the server renders this too, and the two must agree.
  const hm = d.toISOString().slice(11, 16);
  return spanMs > 36 * 3_600_000 ? `${d.toISOString().slice(5, 10)} ${hm}` : hm;
}

export function HistoryChart({ title, unit, series, testId }: { title: string; unit: MetricUnit; series: ChartSeries; testId?: string }) {
  const span = (series.t.at(-1) ?? 0) - (series.t[0] ?? 0);
  const data = series.t.map((t, i) => ({ time: timeLabel(t, span), max: series.max[i] ?? null, avg: series.avg[i] ?? null, min: series.min[i] ?? null }));
  const points = series.avg.filter((v) => v !== null).length;
  return (
    <div className="min-w-0 rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900" data-testid={testId} data-points={points}>
      <div className="flex items-baseline justify-between gap-2">
        <h3 className="text-sm font-medium">{title}</h3>
        <span className="text-xs text-gray-500 dark:text-gray-400">{points === 0 ? "no data in this range" : "avg, min–max · UTC"}</span>
      </div>
      <LineChart
        className="mt-2 h-44"
        data={data}
        index="time"
        categories={["max", "avg", "min"]}
        colors={["gray", "blue", "gray"]}
        valueFormatter={(v: number) => formatValue(unit, v)}
        connectNulls={false}
        showLegend={false}
        showAnimation={false}
        yAxisWidth={64}
        minValue={unit === "pct" ? 0 : undefined}
        maxValue={unit === "pct" ? 100 : undefined}
      />
    </div>
  );
}
