// The monitoring background service, for src/server/background.ts: the
// sampler, with the per-VM readings of the source background.ts passes in (the
// vms area builds it; metrics knows nothing of VMs), unless
// SAMPLER_ENABLED=false (a web-only replica), in which case nothing runs and
// pages read what the sampling process writes.
import type { Db } from "../db/client";
import { env } from "../env";
import type { VmReadingSource } from "./collectors/vms";
import { startSampler } from "./sampler";

export function startMetricsServices(db: Db, vmSource: VmReadingSource | null = null): { stop(): Promise<void> } {
  if (!env().SAMPLER_ENABLED) return { stop: async () => {} };
  return startSampler({ db, vmSource });
}
