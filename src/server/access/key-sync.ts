// Keeps running VMs' authorized_keys in step with their owners' SSH keys.
// - scheduleKeySync(db, userId), called when a user adds or removes a key,
//   re-syncs that user's running VMs at once, in the background.
// - A sweep every minute (a background service, src/server/background.ts)
//   re-syncs every running VM whose wanted authorized_keys differs from what
//   this process last wrote into it. After a restart nothing has been written
//   yet, so each running VM is synced once; after that only VMs whose owner's
//   keys changed are. That is how removals reach guests too, and how a change
//   made through a web-only replica (which syncs nothing itself) reaches them
//   within a minute.
// Only VMs already moved to their own key (keysSyncedAt set) are synced here:
// a VM made before per-VM keys still has a Vagrantfile that logs in with
// Vagrant's insecure key, and is moved, keys and all, on its next start.
// Per VM, syncs never overlap (a request during one runs once more after it),
// and an error is logged and recorded once until it changes or clears.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { Coalesced } from "../coalesced";
import { recordEvent } from "../events/record";
import { authorizedKeysContent, contentHash, installGuestAccess, writtenKeysHash } from "./guest-access";
import { vmPublicKey } from "./vm-key";

/** SSH logins to guests at once, across VMs. */
const MAX_CONCURRENT = 4;
export const KEY_SYNC_SWEEP_MS = 60_000;

interface SyncState {
  /** scheduleKeySync calls still looking up which VMs to sync. */
  looking: Set<Promise<unknown>>;
  queued: Map<string, Coalesced>;
  reported: Map<string, string>;
  active: number;
  waiting: Array<() => void>;
}
const globalForSync = globalThis as unknown as { twargaKeySync?: SyncState };
const state: SyncState = (globalForSync.twargaKeySync ??= { looking: new Set(), queued: new Map(), reported: new Map(), active: 0, waiting: [] });

async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  while (state.active >= MAX_CONCURRENT) await new Promise<void>((resolve) => state.waiting.push(resolve));
  state.active++;
  try {
    return await fn();
  } finally {
    state.active--;
    state.waiting.shift()?.();
  }
}

async function syncOnce(db: Db, vmId: string, e: Env): Promise<void> {
  try {
    await withSlot(() => installGuestAccess(db, vmId, {}, e));
    state.reported.delete(vmId);
  } catch (err) {
    const vm = await db.vm.findUnique({ where: { id: vmId }, select: { name: true, ownerId: true, state: true } });
    // A VM that stopped or went away meanwhile gets its keys on its next start.
    if (!vm || vm.state !== "RUNNING") return;
    const reason = err instanceof Error ? err.message : String(err);
    if (state.reported.get(vmId) === reason) return;
    state.reported.set(vmId, reason);
    console.error(`[access] could not sync SSH keys into ${vm.name} (${vmId}): ${reason}`);
    await recordEvent(db, {
      type: "vm",
      action: "vm.keys.sync-failed",
      severity: "WARNING",
      message: `${vm.name}: its owner's SSH keys could not be written into the guest: ${reason}. The app tries again every minute.`,
      targetUserId: vm.ownerId,
      targetVmId: vmId,
    }).catch((recordErr: unknown) => console.error("[access] could not record the key sync failure:", recordErr));
  }
}

/** Syncs one VM, after any sync of it in progress; resolves when done (never rejects). */
export function queueKeySync(db: Db, vmId: string, e: Env = env()): Promise<void> {
  let sync = state.queued.get(vmId);
  if (!sync) state.queued.set(vmId, (sync = new Coalesced(() => syncOnce(db, vmId, e))));
  const mine = sync;
  return mine.request().finally(() => {
    if (!mine.busy && state.queued.get(vmId) === mine) state.queued.delete(vmId);
  });
}

/** Resolves once no sync is queued or running (tests, shutdown). */
export async function keySyncIdle(): Promise<void> {
  while (state.looking.size > 0 || state.queued.size > 0) await Promise.allSettled([...state.looking, ...[...state.queued.values()].map((q) => q.settled())]);
}

/** Asks for the owner's running VMs to get the owner's current keys (returns at once; the sync runs in the background). */
export function scheduleKeySync(db: Db, userId: string): void {
  const e = env();
  // A web-only replica leaves it to the sweep of the process that runs the background services (and holds the VMs' keys).
  if (!e.BACKGROUND_SERVICES) return;
  const looking = db.vm
    .findMany({ where: { ownerId: userId, state: "RUNNING", ipAddress: { not: null }, keysSyncedAt: { not: null } }, select: { id: true } })
    .then((vms) => {
      for (const vm of vms) void queueKeySync(db, vm.id, e);
    })
    .catch((err: unknown) => console.error("[access] could not schedule a key sync:", err))
    .finally(() => state.looking.delete(looking));
  state.looking.add(looking);
}

/** One pass: queues every running VM whose wanted authorized_keys is not what was last written. Returns how many. */
export async function sweepKeySync(db: Db, e: Env = env()): Promise<number> {
  const vms = await db.vm.findMany({ where: { state: "RUNNING", ipAddress: { not: null }, keysSyncedAt: { not: null } }, select: { id: true, ownerId: true } });
  if (vms.length === 0) return 0;
  const keys = await db.sshKey.findMany({
    where: { userId: { in: [...new Set(vms.map((v) => v.ownerId))] } },
    orderBy: { createdAt: "asc" },
    select: { userId: true, label: true, publicKey: true },
  });
  let queued = 0;
  for (const vm of vms) {
    const own = await vmPublicKey(vm.id, e);
    if (!own) continue; // not on this host
    const wanted = contentHash(
      authorizedKeysContent(
        vm.id,
        own,
        keys.filter((k) => k.userId === vm.ownerId),
      ),
    );
    if (wanted === writtenKeysHash(vm.id)) continue;
    void queueKeySync(db, vm.id, e);
    queued++;
  }
  return queued;
}

/** The background service: a sweep at start and every minute. */
export function startKeySync(db: Db, options: { everyMs?: number; env?: Env } = {}): { stop(): Promise<void> } {
  const e = options.env ?? env();
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    sweeping = sweeping.then(() => sweepKeySync(db, e)).catch((err: unknown) => console.error("[access] key sync sweep failed:", err));
  };
  sweep();
  const timer = setInterval(sweep, options.everyMs ?? KEY_SYNC_SWEEP_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await sweeping;
      await keySyncIdle();
    },
  };
}
