// Observed state wins: the sampler's one `virsh domstats --raw` call per tick
// also shows the domain of every VM the database says is RUNNING or STOPPED.
// When libvirt and the row disagree at two consecutive ticks (one tick can
// catch a domain mid-transition), the row follows libvirt through settleVm, so
// metering and uptime follow too, and an event says what happened.
//
// Never against a running operation: the write is a compare-and-set on the
// state the row had when observed, in the same statement that checks for a
// QUEUED or RUNNING job. It moves the row to a busy state first, so no job can
// be enqueued (enqueueOperation needs a settled state) until settleVm writes
// the final one. A tick on which virsh fails says nothing about any domain:
// it changes nothing and restarts the count.
import type { VmState } from "~/generated/prisma/sqlite/enums";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { recordEvent } from "../events/record";
import { libvirtDomainName, vmFolder } from "../folders";
import { createVmReadingSource } from "../hypervisor/reading-source";
import { createVmStatsReader, type DomainObservation, type TickObservation, type VmRef, type VmStatsReader } from "../hypervisor/vm-stats";
import type { VmReadingSource } from "../metrics/collectors/vms";
import { settleVm } from "./reconcile";
import { UP_STATES } from "./transitions";

/** libvirt's virDomainState values this module acts on. */
const RUNNING_STATES = [1, 2]; // running, blocked (running, waiting on a resource)
const SHUT_OFF = 5;
const CRASHED = 6;
/** virDomainShutoffReason: why a domain is shut off. */
const SHUTOFF_REASONS: Record<number, string> = {
  1: "it was shut down (a poweroff inside the guest, or virsh shutdown)",
  2: "it was destroyed (virsh destroy)",
  3: "it crashed",
};
const SHUTOFF_CRASHED = 3;

export type Disagreement = "stopped" | "crashed" | "missing" | "started";

/** Consecutive ticks that must agree before the row is changed. */
export const TICKS_TO_RECONCILE = 2;

/** A row as the tick listed it (its state then is what the compare-and-set expects). */
export interface ListedVm extends VmRef {
  name: string;
  ownerId: string;
  state: VmState;
  meteredUntil: Date | null;
}

/** What disagrees between a row and its domain; null when they agree or nothing certain can be said (paused, shutting down…). */
export function disagreementOf(rowState: VmState, domain: DomainObservation): Disagreement | null {
  if (rowState === "RUNNING") {
    if (!domain.present) return "missing";
    if (domain.state === CRASHED || (domain.state === SHUT_OFF && domain.reason === SHUTOFF_CRASHED)) return "crashed";
    if (domain.state === SHUT_OFF) return "stopped";
    return null;
  }
  if (rowState === "STOPPED" && domain.present && domain.state !== null && RUNNING_STATES.includes(domain.state)) return "started";
  return null;
}

/** The VMs each tick reads: the up ones for their stats, the STOPPED ones for their domain's state only. */
async function listObservedVms(db: Db, e: Env): Promise<ListedVm[]> {
  const rows = await db.vm.findMany({
    where: { state: { in: [...UP_STATES, "STOPPED"] } },
    select: { id: true, name: true, ownerId: true, state: true, meteredUntil: true },
    orderBy: { createdAt: "asc" },
  });
  return rows.map((vm) => ({ ...vm, folder: vmFolder(vm.id, e), domainName: libvirtDomainName(vm.id), stateOnly: !UP_STATES.includes(vm.state) }));
}

export interface StateObserver {
  /** Acts on one tick's observation of the VMs `listed` names; returns the VMs it reconciled. */
  observe(listed: readonly ListedVm[], observation: TickObservation): Promise<Array<{ vmId: string; disagreement: Disagreement }>>;
}

export function createStateObserver(db: Db, e: Env = env()): StateObserver {
  // Per process, like the sampler that feeds it: what the last tick disagreed on, and when each VM was last seen running.
  const pending = new Map<string, { disagreement: Disagreement; rowState: VmState }>();
  const lastRunningAt = new Map<string, number>();
  return {
    async observe(listed, observation) {
      if (!observation.libvirtUp) {
        pending.clear();
        return [];
      }
      const rows = new Map(listed.map((vm) => [vm.id, vm]));
      for (const id of [...pending.keys()]) if (!rows.has(id)) pending.delete(id);
      for (const id of [...lastRunningAt.keys()]) if (!rows.has(id)) lastRunningAt.delete(id);
      const reconciled: Array<{ vmId: string; disagreement: Disagreement }> = [];
      for (const domain of observation.domains) {
        const row = rows.get(domain.vmId);
        if (!row) continue;
        if (domain.present && domain.state !== null && RUNNING_STATES.includes(domain.state)) lastRunningAt.set(row.id, observation.atMs);
        const disagreement = disagreementOf(row.state, domain);
        const previous = pending.get(row.id);
        if (!disagreement) {
          pending.delete(row.id);
          continue;
        }
        if (previous?.disagreement !== disagreement || previous.rowState !== row.state) {
          pending.set(row.id, { disagreement, rowState: row.state });
          continue;
        }
        pending.delete(row.id);
        const seen = lastRunningAt.get(row.id);
        try {
          if (await reconcile(db, row, domain, disagreement, seen === undefined ? null : new Date(seen), e)) reconciled.push({ vmId: row.id, disagreement });
        } catch (err) {
          // One VM's failed write must not keep the others as they are; the next two ticks try it again.
          console.error(`[vms] ${row.name}: could not follow libvirt (${disagreement}):`, err);
        }
      }
      return reconciled;
    },
  };
}

/**
 * Moves the row to what libvirt shows, unless a job got there first. Returns
 * whether it did. `lastRunningAt` ends the final charge; unknown (this process
 * never saw the VM running), nothing more is charged.
 */
async function reconcile(db: Db, row: ListedVm, domain: DomainObservation, disagreement: Disagreement, lastRunningAt: Date | null, e: Env): Promise<boolean> {
  const started = disagreement === "started";
  const claimed = await db.vm.updateMany({
    where: { id: row.id, state: row.state, jobs: { none: { state: { in: ["QUEUED", "RUNNING"] } } } },
    data: { state: started ? "STARTING" : "STOPPING" },
  });
  if (claimed.count === 0) return false;
  const crashMessage = "The VM crashed (libvirt reports its domain crashed). Start it again, or destroy it.";
  const missingMessage = `The VM's libvirt domain ${domain.domain} is missing from libvirt (undefined outside Twarga Cloud). Destroy the VM, or start it to create it again.`;
  try {
    if (started) await settleVm(db, row.id, { state: "RUNNING", booted: true }, e);
    else
      await settleVm(
        db,
        row.id,
        {
          state: disagreement === "missing" ? "ERROR" : "STOPPED",
          error: disagreement === "crashed" ? crashMessage : disagreement === "missing" ? missingMessage : null,
          chargeUntil: lastRunningAt ?? row.meteredUntil ?? new Date(0),
        },
        e,
      );
  } catch (err) {
    // Give the row back its observed state, so it is not left busy without a job.
    await db.vm.updateMany({ where: { id: row.id, state: started ? "STARTING" : "STOPPING" }, data: { state: row.state } }).catch(() => {});
    throw err;
  }
  const seen = lastRunningAt ? ` It was last seen running at ${lastRunningAt.toISOString()}; it is charged until then.` : "";
  const why = domain.present && domain.state === SHUT_OFF && domain.reason !== null ? SHUTOFF_REASONS[domain.reason] : undefined;
  const text: Record<Disagreement, { severity: "INFO" | "WARNING"; message: string }> = {
    stopped: { severity: "WARNING", message: `${row.name} stopped outside Twarga Cloud${why ? `: ${why}` : ""}. It is now stopped.${seen}` },
    crashed: { severity: "WARNING", message: `${row.name} crashed (libvirt reports its domain crashed). It is now stopped.${seen}` },
    missing: { severity: "WARNING", message: `${row.name} is missing from libvirt: its domain ${domain.domain} no longer exists. It is now in error.${seen}` },
    started: { severity: "INFO", message: `${row.name} was started outside Twarga Cloud. It is now running, and charged from now.` },
  };
  await recordEvent(db, {
    type: "vm",
    action: `vm.observed.${disagreement}`,
    severity: text[disagreement].severity,
    message: text[disagreement].message,
    targetUserId: row.ownerId,
    targetVmId: row.id,
    details: {
      previousState: row.state,
      domain: domain.domain,
      libvirtState: domain.present ? domain.state : null,
      libvirtReason: domain.present ? domain.reason : null,
      lastObservedRunningAt: lastRunningAt?.toISOString() ?? null,
    },
  });
  return true;
}

/**
 * The sampler's VM source with reconciliation attached, for
 * src/server/background.ts: stats of the up VMs, and every tick's observation
 * handed to the state observer.
 */
export function createObservedVmSource(db: Db, opts: { env?: Env; reader?: VmStatsReader } = {}): VmReadingSource {
  const e = opts.env ?? env();
  const observer = createStateObserver(db, e);
  let listed: ListedVm[] = [];
  return createVmReadingSource(
    async () => (listed = await listObservedVms(db, e)),
    opts.reader ?? createVmStatsReader(e),
    e.VM_STATE_FROM_LIBVIRT
      ? async (observation) => {
          await observer.observe(listed, observation);
        }
      : undefined,
  );
}
