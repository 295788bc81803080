// Per-VM readings. The hypervisor area implements VmReadingSource (from
// `virsh domstats`, rates already computed from its counters, and the counters
// themselves); the sampler stores what it gives for every running VM in the
// same tick. An unavailable VM gets no row for that tick: a gap, not a made-up
// zero.
import { pct } from "../rates";
import { vmSource } from "../sources";
import type { Collector, CounterName, CounterSample } from "./types";

/** A VM's cumulative counters as libvirt reports them (since its QEMU process started), in seconds and bytes; null where it reports none. */
export type VmCounters = Record<"cpuSeconds" | "diskReadBytes" | "diskWrittenBytes" | "netReceiveBytes" | "netTransmitBytes", number | null>;

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
      /** Absent from a source that reads no counters. */
      counters?: VmCounters;
    }
  | { vmId: string; status: "unavailable"; reason?: string };

export interface VmReadingSource {
  /** One reading per running VM. */
  read(nowMs: number): Promise<VmReading[]>;
}

export function createVmCollector(source: VmReadingSource): Collector {
  return {
    name: "vms",
    async collect(nowMs) {
      const readings = await source.read(nowMs);
      return readings.flatMap((r) => {
        // Why it has none is recorded in the database by the sampler (metrics/reading-gaps.ts).
        if (r.status !== "ok") return [];
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
            counters: vmCounterSamples(r.counters),
          },
        ];
      });
    },
  };
}

function vmCounterSamples(counters: VmCounters | undefined): CounterSample[] {
  const out: CounterSample[] = [];
  if (!counters) return out;
  for (const [name, value] of Object.entries(counters) as [CounterName, number | null][])
    if (value !== null && Number.isFinite(value)) out.push({ name, value });
  return out;
}
