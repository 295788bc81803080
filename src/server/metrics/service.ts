// The monitoring background service, for src/server/background.ts: the
// sampler with the hypervisor's per-VM readings, unless SAMPLER_ENABLED=false
// (a web-only replica), in which case nothing runs and pages read what the
// sampling process writes.
import type { Db } from "../db/client";
import { env } from "../env";
import { createVmReadingSource } from "../hypervisor/reading-source";
import { listRunningVmsForMetrics } from "../vms/queries";
import type { VmReadingSource } from "./collectors/vms";
import { startSampler } from "./sampler";

export function startMetricsServices(
  db: Db,
  vmSource: VmReadingSource | null = createVmReadingSource(() => listRunningVmsForMetrics(db)),
): { stop(): Promise<void> } {
  if (!env().SAMPLER_ENABLED) return { stop: async () => {} };
  return startSampler({ db, vmSource });
}
