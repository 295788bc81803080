// The hypervisor's side of the metrics sampler: a VmReadingSource
// (src/server/metrics/collectors/vms.ts) that, each tick, asks for the VMs that
// are up and reads them all with one `virsh domstats` call. The same call also
// shows the domains of VMs listed as stateOnly (the database says they are
// down); what it saw goes to `onObserved` (the vms area's reconciliation).
import type { VmReading, VmReadingSource } from "../metrics/collectors/vms";
import { createVmStatsReader, type TickObservation, type VmRef, type VmStatsReader, type VmStatsResult } from "./vm-stats";

export function toVmReading(result: VmStatsResult): VmReading {
  if (result.status !== "ok") return { vmId: result.vmId, status: "unavailable", reason: result.reason };
  const { cpuPct, memUsedBytes, memAvailableBytes, rssBytes, diskReadBps, diskWriteBps, netRxBps, netTxBps } = result.stats;
  return {
    vmId: result.vmId,
    status: "ok",
    cpuPct,
    memUsedBytes,
    memAvailableBytes,
    rssBytes,
    diskReadBps,
    diskWriteBps,
    netRxBps,
    netTxBps,
    counters: result.counters,
  };
}

/**
 * `listVms` names the VMs to read this tick (src/server/vms/observed-state.ts
 * builds it). `onObserved` runs before the readings are returned; if it
 * throws, the tick's readings are still stored.
 */
export function createVmReadingSource(
  listVms: () => Promise<readonly VmRef[]>,
  reader: VmStatsReader = createVmStatsReader(),
  onObserved?: (observation: TickObservation) => Promise<void>,
): VmReadingSource {
  return {
    async read(nowMs) {
      const observation = await reader.observe(await listVms(), nowMs);
      if (onObserved) await onObserved(observation).catch((err: unknown) => console.error("[hypervisor] acting on the observed VM states failed:", err));
      return observation.results.map(toVmReading);
    },
  };
}
