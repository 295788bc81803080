// Metering: running VMs are charged for the minutes they are seen running.
// Vm.meteredUntil marks how far a VM has been charged; it is set when the VM
// comes up and cleared (after a final charge, partial minute rounded up) when
// it goes down. Each charge is one ledger row keyed by the VM and the start of
// the charged span, naming the minutes it covers, and moves meteredUntil with a
// compare-and-set in the same transaction, so two meterers never charge a
// minute twice.
//
// Only what was seen is charged. The per-minute pass sees every VM that is up
// (the row follows libvirt through observed-state.ts) and writes
// Vm.lastSeenRunningAt; a VM's coming up and its final moment (a stop, or the
// last tick that saw it running) are sightings too. Between two sightings more
// than METERING_MAX_GAP_S apart nobody was looking (the app or its host was
// down), so those minutes are not charged and an event says so: a restart
// never bills the downtime as a backlog in one pass.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { recordEvent } from "../events/record";
import { addLedgerEntry, balanceOf } from "./ledger";
import { costOfMinutes } from "./pricing";
import { UP_STATES } from "./transitions";

const MINUTE = 60_000;

/** The minutes a charge covers, in UTC, so a user can check them: "14:02:10–14:05:10 UTC on 2026-11-30". */
function spanText(from: Date, minutes: number): string {
  return rangeText(from, new Date(from.getTime() + minutes * MINUTE));
}

function rangeText(from: Date, to: Date): string {
  const hms = (d: Date) => d.toISOString().slice(11, 19);
  return `${hms(from)}–${hms(to)} UTC on ${from.toISOString().slice(0, 10)}`;
}

/**
 * Charges a VM's uncharged time up to `until`, a moment it was seen up (a
 * metering pass, or, with `final`, the end of its run). Returns the credits charged.
 */
export async function chargeVm(db: Db, vmId: string, until: Date, opts: { final: boolean }, e: Env = env()): Promise<number> {
  const vm = await db.vm.findUnique({
    where: { id: vmId },
    select: { id: true, name: true, ownerId: true, cpus: true, ramMb: true, diskGb: true, meteredUntil: true, lastSeenRunningAt: true },
  });
  if (!vm?.meteredUntil) return 0;
  const from = vm.meteredUntil;
  // The previous sighting: the last pass, or its coming up (where meteredUntil starts).
  const seen = vm.lastSeenRunningAt && vm.lastSeenRunningAt > from ? vm.lastSeenRunningAt : from;
  const unseen = until.getTime() - seen.getTime() > e.METERING_MAX_GAP_S * 1000;
  // Across a gap only the time up to the previous sighting is charged, its started minute rounded up as at a stop.
  const chargedTo = unseen ? seen : until;
  const elapsed = Math.max(0, chargedTo.getTime() - from.getTime());
  const minutes = opts.final || unseen ? Math.ceil(elapsed / MINUTE) : Math.floor(elapsed / MINUTE);
  const cost = costOfMinutes(vm, minutes, e);
  const charged = await db.$transaction(async (tx) => {
    const moved = await tx.vm.updateMany({
      where: { id: vm.id, meteredUntil: from },
      data: {
        // A gap is skipped, not charged later: metering goes on from this sighting.
        meteredUntil: opts.final ? null : unseen ? until : new Date(from.getTime() + minutes * MINUTE),
        ...(opts.final ? {} : { lastSeenRunningAt: until }),
      },
    });
    if (moved.count === 0) return null; // someone else charged this span
    if (minutes > 0 && cost > 0)
      await addLedgerEntry(tx, {
        userId: vm.ownerId,
        kind: "CHARGE",
        amount: -cost,
        reason: `${vm.name}: ${minutes} min running, ${spanText(from, minutes)}`,
        vmId: vm.id,
        idempotencyKey: `meter:${vm.id}:${from.toISOString()}`,
      });
    return cost;
  });
  if (charged === null) return 0;
  if (unseen) {
    const skippedFrom = new Date(Math.max(seen.getTime(), from.getTime() + minutes * MINUTE));
    await recordEvent(db, {
      type: "vm",
      action: "vm.metering.gap",
      message:
        `${vm.name} is not charged for ${rangeText(skippedFrom, until)}: Twarga Cloud was not watching it then ` +
        `(the app or its host was down), so those minutes are free.`,
      targetUserId: vm.ownerId,
      targetVmId: vm.id,
      details: { lastSeenRunningAt: seen.toISOString(), seenAgainAt: until.toISOString(), final: opts.final },
    });
  }
  return charged;
}

export interface MeteringResult {
  charged: Array<{ vmId: string; userId: string; amount: number }>;
  /** Users whose balance reached zero; their running VMs were asked to stop. */
  exhausted: string[];
}

/**
 * One metering pass, a sighting of every VM that is up: charge every metered
 * VM its whole minutes since the previous sighting (none across a gap), warn users
 * who crossed the low-balance line, and stop the running VMs of users at zero.
 * `stopVm` requests a system stop (the job runner does it).
 */
export async function meterRunningVms(db: Db, now: Date, stopVm: (vmId: string, reason: string) => Promise<void>, e: Env = env()): Promise<MeteringResult> {
  const metered = await db.vm.findMany({ where: { meteredUntil: { not: null } }, select: { id: true, ownerId: true, state: true } });
  const charged: MeteringResult["charged"] = [];
  for (const vm of metered) {
    // A VM that is down but still metered (a crash between steps) gets its final charge.
    const amount = await chargeVm(db, vm.id, now, { final: !UP_STATES.includes(vm.state) }, e);
    if (amount > 0) charged.push({ vmId: vm.id, userId: vm.ownerId, amount });
  }
  const exhausted: string[] = [];
  const users = new Set(metered.map((v) => v.ownerId));
  for (const userId of users) {
    const after = await balanceOf(db, userId);
    const spent = charged.filter((c) => c.userId === userId).reduce((s, c) => s + c.amount, 0);
    const before = after + spent;
    if (after <= 0) {
      const running = await db.vm.findMany({ where: { ownerId: userId, state: "RUNNING" }, select: { id: true, name: true } });
      if (running.length === 0) continue;
      exhausted.push(userId);
      for (const vm of running) await stopVm(vm.id, "credits exhausted");
      await recordEvent(db, {
        type: "vm",
        action: "credits.exhausted",
        severity: "WARNING",
        message: `Credits ran out (balance ${after.toFixed(2)}): stopping ${running.map((v) => v.name).join(", ")}. The VMs are stopped, not destroyed.`,
        targetUserId: userId,
        details: { balance: after, stoppedVmIds: running.map((v) => v.id) },
      });
    } else if (spent > 0 && before >= e.CREDITS_LOW_WARNING && after < e.CREDITS_LOW_WARNING) {
      await recordEvent(db, {
        type: "vm",
        action: "credits.low",
        severity: "WARNING",
        message: `Credits are running low: ${after.toFixed(2)} left (warning below ${e.CREDITS_LOW_WARNING}).`,
        targetUserId: userId,
        details: { balance: after },
      });
    }
  }
  return { charged, exhausted };
}
