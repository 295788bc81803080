import type { MetricValues } from "../catalog";

/** What one source measured in one tick. */
export interface Reading {
  source: string;
  values: MetricValues;
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
