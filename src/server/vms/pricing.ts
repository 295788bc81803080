// What a VM costs: prices per hour for a vCPU, a GB of RAM and a GB of disk (settings).
import { env, type Env } from "../env";

export interface PricedSpec {
  cpus: number;
  ramMb: number;
  diskGb: number;
}

export function hourlyCost(spec: PricedSpec, e: Env = env()): number {
  return roundCredits(spec.cpus * e.PRICE_CPU_HOUR + (spec.ramMb / 1024) * e.PRICE_RAM_GB_HOUR + spec.diskGb * e.PRICE_DISK_GB_HOUR);
}

export function costOfMinutes(spec: PricedSpec, minutes: number, e: Env = env()): number {
  return roundCredits((hourlyCost(spec, e) * minutes) / 60);
}

/** Credits are kept to six decimals so sums of many small charges stay exact enough. */
export function roundCredits(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
