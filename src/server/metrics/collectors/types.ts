import type { MetricValues } from "../catalog";

/**
 * The cumulative counters a collector can report, in base units: seconds of
 * CPU, bytes, completed operations. The kernel keeps them since boot, QEMU
 * since the VM's process started; either may restart them from zero (a
 * re-created interface, a restarted VM), which Prometheus' rate() expects.
 */
export type CounterName =
  "cpuSeconds" | "diskReadBytes" | "diskWrittenBytes" | "diskReadsCompleted" | "diskWritesCompleted" | "netReceiveBytes" | "netTransmitBytes";

/** One counter as the collector read it; labels tell apart several of one name in a source (a CPU mode, a disk). */
export interface CounterSample {
  name: CounterName;
  labels?: Record<string, string>;
  value: number;
}

/** What one source measured in one tick. */
export interface Reading {
  source: string;
  /** Levels and per-second rates: stored, one row per source per tick (store.ts). */
  values: MetricValues;
  /** The raw counters behind those rates: never stored, held by the sampler for the exposition (sampler.ts). */
  counters?: CounterSample[];
}

/**
 * Something the sampler asks for readings once per tick. A collector that
 * throws costs its readings for that tick only (the sampler counts and logs it).
 */
export interface Collector {
  /** Short name used in sampler health ("host", "vms"). */
  readonly name: string;
  collect(nowMs: number): Promise<Reading[]>;
}
