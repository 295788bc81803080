// Why a running VM has no readings (libvirt down, domain gone), in the
// database so that every app process can say so on the VM's page, not only
// the one that runs the sampler. The sampler's VM source is wrapped: each tick
// the VMs reported unavailable get a VmReadingGap row, and the row goes once
// the VM has a reading again or is no longer listed (stopped, destroyed). Rows
// are written only when something changes, never once per tick.
import type { Db } from "../db/client";
import type { VmReadingSource } from "./collectors/vms";

export interface ReadingGap {
  reason: string;
  /** Since when (ms) the VM has had no reading for this reason. */
  at: number;
}

/** Wraps the sampler's VM source so that its unavailable VMs are recorded; the readings pass through unchanged. */
export function trackReadingGaps(db: Db, source: VmReadingSource, log: (m: string) => void = (m) => console.warn(`[sampler] ${m}`)): VmReadingSource {
  // What the table holds, as far as this sampler knows: loaded on the first tick
  // (a sampler taking over from another process starts from its rows).
  let known: Map<string, { reason: string; since: Date }> | null = null;
  let failing = false;
  return {
    async read(nowMs) {
      const readings = await source.read(nowMs);
      try {
        known ??= new Map((await db.vmReadingGap.findMany()).map((g) => [g.vmId, { reason: g.reason, since: g.since }]));
        const gaps = new Map<string, string>();
        for (const r of readings) if (r.status !== "ok") gaps.set(r.vmId, r.reason ?? "no reading from the hypervisor");
        const cleared = [...known.keys()].filter((vmId) => !gaps.has(vmId));
        if (cleared.length > 0) await db.vmReadingGap.deleteMany({ where: { vmId: { in: cleared } } });
        for (const vmId of cleared) known.delete(vmId);
        for (const [vmId, reason] of gaps) {
          if (known.get(vmId)?.reason === reason) continue;
          const since = new Date(nowMs);
          await db.vmReadingGap.upsert({ where: { vmId }, create: { vmId, reason, since }, update: { reason, since } });
          known.set(vmId, { reason, since });
        }
        failing = false;
      } catch (err) {
        // The readings still count; the next tick starts again from the table.
        known = null;
        if (!failing) log(`recording why VMs have no readings failed: ${err instanceof Error ? err.message : String(err)}`);
        failing = true;
      }
      return readings;
    },
  };
}

/** Why a VM has had no readings, or null when it has them (or is not running). */
export async function readingGap(db: Db, vmId: string): Promise<ReadingGap | null> {
  const gap = await db.vmReadingGap.findUnique({ where: { vmId } });
  return gap ? { reason: gap.reason, at: gap.since.getTime() } : null;
}
