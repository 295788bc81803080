// The hypervisor's side of the metrics sampler: a VmReadingSource
// (src/server/metrics/collectors/vms.ts) that, each tick, asks for the VMs that
// are up and reads them all with one `virsh domstats` call.
import type { VmReading, VmReadingSource } from "../metrics/collectors/vms";
import { createVmStatsReader, type VmRef, type VmStatsReader, type VmStatsResult } from "./vm-stats";

export function toVmReading(result: VmStatsResult): VmReading {
  if (result.status !== "ok") return { vmId: result.vmId, status: "unavailable", reason: result.reason };
  const { cpuPct, memUsedBytes, memAvailableBytes, rssBytes, diskReadBps, diskWriteBps, netRxBps, netTxBps } = result.stats;
  return { vmId: result.vmId, status: "ok", cpuPct, memUsedBytes, memAvailableBytes, rssBytes, diskReadBps, diskWriteBps, netRxBps, netTxBps };
}

/**
 * `listVms` names the VMs to read this tick, e.g.
 * `createVmReadingSource(() => listRunningVmsForMetrics(db))`.
 */
export function createVmReadingSource(listVms: () => Promise<readonly VmRef[]>, reader: VmStatsReader = createVmStatsReader()): VmReadingSource {
  return {
    async read(nowMs) {
      const results = await reader.read(await listVms(), nowMs);
      return results.map(toVmReading);
    },
  };
}
