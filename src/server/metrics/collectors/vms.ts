// Per-VM readings. The hypervisor area implements VmReadingSource (from
// `virsh domstats`, rates already computed from its counters); the sampler
// stores what it gives for every running VM in the same tick. An unavailable
// VM gets no row for that tick: a gap, not a made-up zero.
import { pct } from "../rates";
import { vmSource } from "../sources";
import type { Collector } from "./types";

export type VmReading =
  | {
      vmId: string;
      status: "ok";
      cpuPct: number | null;
      memUsedBytes: number | null;
      memAvailableBytes: number | null;
      rssBytes: number | null;
      diskReadBps: number | null;
      diskWriteBps: number | null;
      netRxBps: number | null;
      netTxBps: number | null;
    }
  | { vmId: string; status: "unavailable"; reason?: string };

export interface VmReadingSource {
  /** One reading per running VM. */
  read(nowMs: number): Promise<VmReading[]>;
}

/**
 * Why a VM had no reading at the last tick of this process's sampler (libvirt
 * down, domain gone), so its page can say so instead of only going stale.
 * Cleared by its next reading.
 */
// On globalThis: Next bundles the instrumentation hook (which runs the sampler)
// apart from the route handlers that read this, each with its own module copy.
const globalForVms = globalThis as unknown as { twargaUnavailableVms?: Map<string, { reason: string; at: number }> };
const unavailableVms = (globalForVms.twargaUnavailableVms ??= new Map());

export function vmUnavailability(vmId: string): { reason: string; at: number } | null {
  return unavailableVms.get(vmId) ?? null;
}

export function createVmCollector(source: VmReadingSource): Collector {
  return {
    name: "vms",
    async collect(nowMs) {
      const readings = await source.read(nowMs);
      const listed = new Set(readings.map((r) => r.vmId));
      for (const vmId of unavailableVms.keys()) if (!listed.has(vmId)) unavailableVms.delete(vmId); // no longer running
      return readings.flatMap((r) => {
        if (r.status !== "ok") {
          unavailableVms.set(r.vmId, { reason: r.reason ?? "no reading from the hypervisor", at: nowMs });
          return [];
        }
        unavailableVms.delete(r.vmId);
        const { memUsedBytes: used, memAvailableBytes: avail } = r;
        return [
          {
            source: vmSource(r.vmId),
            values: {
              cpuPct: r.cpuPct,
              memUsedBytes: used,
              memAvailableBytes: avail,
              memPct: used !== null && avail !== null ? pct(used, used + avail) : null,
              rssBytes: r.rssBytes,
              diskReadBps: r.diskReadBps,
              diskWriteBps: r.diskWriteBps,
              netRxBps: r.netRxBps,
              netTxBps: r.netTxBps,
            },
          },
        ];
      });
    },
  };
}
