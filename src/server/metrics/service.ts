// The monitoring background service, for src/server/background.ts: this host's
// sampler (and with it the alert evaluator, which runs in its ticks), with the
// per-VM readings of the source background.ts passes in (the vms area builds
// it; metrics knows nothing of VMs).
//
// Exactly one sampler runs per host, however many background processes share
// the database: each one waits for the host's sampler lease
// ("metrics-sampler:<host id>", src/server/leases.ts) and only its holder
// samples. If that process dies, another one takes the lease once it expires
// (SERVICE_LEASE_TTL_S) and starts sampling. SAMPLER_ENABLED=false turns
// sampling off in this process altogether; pages read what the sampling
// process writes either way.
import type { Db } from "../db/client";
import { env } from "../env";
import { runWhileLeased, type LeaseRunner } from "../leases";
import type { VmReadingSource } from "./collectors/vms";
import { listenForCollectRequests } from "./collect-requests";
import { samplerLeaseName, startSampler, type SamplerOptions } from "./sampler";

export function startMetricsServices(
  db: Db,
  vmSource: VmReadingSource | null = null,
  opts: Partial<Pick<SamplerOptions, "intervalMs" | "log">> & { ttlMs?: number; databaseUrl?: string } = {},
): LeaseRunner | { stop(): Promise<void> } {
  if (!env().SAMPLER_ENABLED) return { stop: async () => {} };
  return runWhileLeased({
    db,
    name: samplerLeaseName(),
    ttlMs: opts.ttlMs,
    start: (lease) => {
      const sampler = startSampler({ db, vmSource, lease, intervalMs: opts.intervalMs, log: opts.log });
      // A "collect now" from another process: one tick, then its outcome is published on the lease at once.
      const listener = listenForCollectRequests(opts.databaseUrl ?? env().DATABASE_URL, () => {
        void sampler
          .tick()
          .then(() => lease.report())
          .catch((err: unknown) => console.warn(`[sampler] collect-now request failed: ${String(err)}`));
      });
      return {
        status: () => sampler.stats(),
        async stop() {
          await listener.stop();
          await sampler.stop();
        },
      };
    },
  });
}
