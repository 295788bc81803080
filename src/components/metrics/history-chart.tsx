"use client";
// History over time as a band: the min–max range of each bucket as a shaded
// area with the average as a line on top. Tremor 3 has no band chart, so this
// composes recharts (the library Tremor's charts are built on) with Tremor's
// look: its Card, Title and Legend, its axis, grid and tooltip classes. A
// bucket without data is null and breaks both the line and the area, so a
// gap in collection shows as a gap.
import { Card, Legend, Title } from "@tremor/react";
import { Area, CartesianGrid, ComposedChart, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatValue } from "~/server/metrics/format";
import type { MetricUnit } from "~/server/metrics/catalog";
import { countReadings, toBandPoints, type BandPoint } from "./band-points";
import { formatWhen } from "~/components/shell/when";

export interface ChartSeries {
  t: number[];
  avg: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

export type BandColor = "blue" | "emerald" | "violet" | "amber";

// Whole class names, so Tailwind finds them in this file.
const COLOR_CLASSES: Record<BandColor, { line: string; band: string; dot: string; swatch: string }> = {
  blue: {
    line: "stroke-blue-500 dark:stroke-blue-400",
    band: "fill-blue-500 dark:fill-blue-400",
    dot: "fill-blue-500 dark:fill-blue-400",
    swatch: "bg-blue-500",
  },
  emerald: {
    line: "stroke-emerald-500 dark:stroke-emerald-400",
    band: "fill-emerald-500 dark:fill-emerald-400",
    dot: "fill-emerald-500 dark:fill-emerald-400",
    swatch: "bg-emerald-500",
  },
  violet: {
    line: "stroke-violet-500 dark:stroke-violet-400",
    band: "fill-violet-500 dark:fill-violet-400",
    dot: "fill-violet-500 dark:fill-violet-400",
    swatch: "bg-violet-500",
  },
  amber: {
    line: "stroke-amber-500 dark:stroke-amber-400",
    band: "fill-amber-500 dark:fill-amber-400",
    dot: "fill-amber-500 dark:fill-amber-400",
    swatch: "bg-amber-500",
  },
};

export interface BandChartSeries {
  /** Stable key of the series within the chart (e.g. the metric name). */
  key: string;
  name: string;
  color: BandColor;
  avg: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

/** What both axes share: Tremor's label look, no tick marks or axis line. */
const AXIS_PROPS = {
  tickLine: false,
  axisLine: false,
  fill: "",
  stroke: "",
  className: "text-tremor-label fill-tremor-content dark:fill-dark-tremor-content",
} as const;

function BandTooltip({ point, label, unit, series }: { point: BandPoint | undefined; label: string; unit: MetricUnit; series: BandChartSeries[] }) {
  return (
    <div
      className={[
        "rounded-tremor-default border border-tremor-border bg-tremor-background text-tremor-default shadow-tremor-dropdown",
        "dark:border-dark-tremor-border dark:bg-dark-tremor-background dark:shadow-dark-tremor-dropdown",
      ].join(" ")}
    >
      <p className="border-b border-tremor-border px-3 py-1.5 font-medium text-tremor-content-emphasis dark:border-dark-tremor-border dark:text-dark-tremor-content-emphasis">
        {point ? formatWhen(point.t) : label}
      </p>
      <div className="space-y-1 px-3 py-1.5">
        {series.map((s) => {
          const v = point?.values[s.key];
          return (
            <div key={s.key}>
              <div className="flex items-center justify-between gap-4">
                <span className="flex items-center gap-1.5 text-tremor-content dark:text-dark-tremor-content">
                  <span className={`h-2.5 w-2.5 shrink-0 rounded-full ${COLOR_CLASSES[s.color].swatch}`} />
                  {s.name}
                </span>
                <span className="font-medium tabular-nums text-tremor-content-emphasis dark:text-dark-tremor-content-emphasis">
                  {v?.avg === null || !v ? "no data" : formatValue(unit, v.avg)}
                </span>
              </div>
              {v && v.avg !== null && (
                <p className="text-right text-tremor-label tabular-nums text-tremor-content dark:text-dark-tremor-content">
                  min {formatValue(unit, v.min)} · max {formatValue(unit, v.max)}
                </p>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** One or more series as bands in a Tremor card; `testId` lands on the card. */
export function BandChart({ title, unit, t, series, testId }: { title: string; unit: MetricUnit; t: number[]; series: BandChartSeries[]; testId?: string }) {
  const points = toBandPoints(t, series);
  const readings = Math.max(0, ...series.map((s) => countReadings(points, s.key)));
  const bandPoints = points.filter((p) => series.some((s) => p.values[s.key]?.band)).length;
  return (
    <Card className="min-w-0 p-3" data-testid={testId} data-points={readings} data-band-points={bandPoints}>
      <div className="flex flex-wrap items-baseline justify-between gap-x-2">
        <Title className="min-w-0 max-w-full truncate text-tremor-default">{title}</Title>
        <span className="text-xs text-tremor-content dark:text-dark-tremor-content">{readings === 0 ? "no data in this range" : "avg, min–max · UTC"}</span>
      </div>
      {series.length > 1 && <Legend className="mt-1" categories={series.map((s) => s.name)} colors={series.map((s) => s.color)} />}
      <div className="mt-2 h-44 w-full">
        <ResponsiveContainer width="100%" height="100%">
          <ComposedChart data={points} margin={{ top: 5, right: 4, bottom: 0, left: 0 }}>
            <CartesianGrid className="stroke-tremor-border stroke-1 dark:stroke-dark-tremor-border" horizontal vertical={false} />
            <XAxis dataKey="label" interval="equidistantPreserveStart" minTickGap={5} tick={{ transform: "translate(0, 6)" }} {...AXIS_PROPS} />
            <YAxis
              width={64}
              type="number"
              domain={unit === "pct" ? [0, 100] : [0, "auto"]}
              allowDataOverflow={unit === "pct"}
              // A no-break space: recharts wraps a tick label at spaces, splitting "1.2 KB/s" over two lines.
              tickFormatter={(v: number) => formatValue(unit, v).replaceAll(" ", "\u00a0")}
              tick={{ transform: "translate(-3, 0)" }}
              {...AXIS_PROPS}
            />
            <Tooltip
              wrapperStyle={{ outline: "none" }}
              isAnimationActive={false}
              cursor={{ stroke: "#d1d5db", strokeWidth: 1 }}
              position={{ y: 0 }}
              // Nothing while inactive: a hidden tooltip still widens the page on a phone.
              content={({ active, payload, label }) =>
                active ? <BandTooltip point={payload?.[0]?.payload as BandPoint | undefined} label={String(label ?? "")} unit={unit} series={series} /> : null
              }
            />
            {/* All bands first, so every average line lies on top of every band. */}
            {series.map((s) => (
              <Area
                key={`${s.key}-band`}
                name={`${s.name} min–max`}
                dataKey={(p: BandPoint) => p.values[s.key]?.band ?? null}
                type="linear"
                className={`band-area ${COLOR_CLASSES[s.color].band}`}
                fill=""
                fillOpacity={0.2}
                stroke="none"
                activeDot={false}
                connectNulls={false}
                isAnimationActive={false}
              />
            ))}
            {series.map((s) => (
              <Line
                key={`${s.key}-avg`}
                name={s.name}
                dataKey={(p: BandPoint) => p.values[s.key]?.avg ?? null}
                type="linear"
                className={`avg-line ${COLOR_CLASSES[s.color].line}`}
                stroke=""
                strokeWidth={2}
                strokeLinejoin="round"
                strokeLinecap="round"
                dot={(props: { cx?: number | null; cy?: number | null; index: number; payload?: BandPoint }) =>
                  props.payload?.values[s.key]?.isolated && typeof props.cx === "number" && typeof props.cy === "number" ? (
                    <circle key={props.index} cx={props.cx} cy={props.cy} r={2.5} className={COLOR_CLASSES[s.color].dot} />
                  ) : (
                    <g key={props.index} />
                  )
                }
                activeDot={{ r: 4, className: COLOR_CLASSES[s.color].dot }}
                connectNulls={false}
                isAnimationActive={false}
              />
            ))}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
    </Card>
  );
}

/** One metric over time: its average with the min–max band. */
export function HistoryChart({ title, unit, series, testId }: { title: string; unit: MetricUnit; series: ChartSeries; testId?: string }) {
  return (
    <BandChart
      title={title}
      unit={unit}
      t={series.t}
      series={[{ key: "value", name: title, color: "blue", avg: series.avg, min: series.min, max: series.max }]}
      testId={testId}
    />
  );
}
