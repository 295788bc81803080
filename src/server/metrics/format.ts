// Human formatting of metric values, shared by alert messages (server) and the
// tiles and charts (client). Pure: no server-only imports.
import { METRICS, type MetricName, type MetricUnit } from "./catalog";

// Powers of 1024, named as such (GiB): the one byte unit of every page, /monitor and Admin → Health alike.
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function bytes(n: number): string {
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? "-" : ""}${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${BYTE_UNITS[i]}`;
}

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`;
}

export function formatValue(unit: MetricUnit, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  switch (unit) {
    case "pct":
      return `${Number.isInteger(value) ? value : value.toFixed(1)} %`;
    case "bytes":
      return bytes(value);
    case "bps":
      return `${bytes(value)}/s`;
    case "ops":
      return `${value.toFixed(value < 10 ? 1 : 0)}/s`;
    case "load":
      return value.toFixed(2);
    case "count":
      return value.toFixed(0);
    case "mhz":
      return `${value.toFixed(0)} MHz`;
    case "seconds":
      return duration(value);
  }
}

export const formatMetric = (metric: MetricName, value: number | null | undefined) => formatValue(METRICS[metric].unit, value);
