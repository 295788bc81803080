// Leases on running jobs. A runner that claims a job writes itself in as the
// job's lease owner with an expiry, and renews every lease it holds on a
// heartbeat (a third of the lease). A RUNNING job whose lease ran out has no
// live runner: its process crashed, was killed, or lost the database for
// longer than the lease. Any runner, this process's after a restart or
// another one on the same database, then claims it with a compare-and-set on
// the old lease, so exactly one recovers it (reconcile.ts, orphans.ts). A slow
// job keeps its lease however long Vagrant takes.
import type { VmJob } from "~/generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { dbErrorText } from "../db/retry";
import { env, type Env } from "../env";
import { hostId, newHolderId } from "../leases";
import { processIdentity } from "./orphans";

export function jobLeaseMs(e: Env = env()): number {
  return e.VM_JOB_LEASE_S * 1000;
}

// The owners this process runs now (on globalThis: Next gives each bundle its own module copy).
const globalForOwners = globalThis as unknown as { twargaJobLeaseOwners?: Set<string> };
const liveOwners = (globalForOwners.twargaJobLeaseOwners ??= new Set<string>());

/** A runner's name in VmJob.leaseOwner: host, PID and a random part (newHolderId; a PID is reused after a restart). */
export function newJobLeaseOwner(): string {
  const owner = newHolderId();
  liveOwners.add(owner);
  return owner;
}

/** The owner stops holding jobs (its runner stopped): jobs it still holds are free to recover at once. */
export function retireJobLeaseOwner(owner: string): void {
  liveOwners.delete(owner);
}

/**
 * Whether an owner's process is surely gone without waiting for its lease to
 * run out: an owner on this host whose PID no longer runs, or this very PID
 * under a name this process does not use (a container restart reuses PIDs).
 */
export function leaseOwnerIsGone(owner: string): boolean {
  const last = owner.lastIndexOf(":");
  const second = owner.lastIndexOf(":", last - 1);
  if (second < 0 || owner.slice(0, second) !== hostId()) return false;
  const pid = Number(owner.slice(second + 1, last));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return !liveOwners.has(owner);
  return processIdentity(pid) === null;
}

/** The fields that give a job to `owner` until now + leaseMs. */
export function leaseFields(owner: string, leaseMs: number, now = new Date()): { leaseOwner: string; leaseExpiresAt: Date } {
  return { leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + leaseMs) };
}

/**
 * Claims the RUNNING jobs that no live runner holds: a lease that ran out, an
 * owner on this host that is gone, or no lease at all (a job from before
 * leases). Each claim is a compare-and-set on
 * the lease it replaces, so two recovering processes never take the same job.
 */
export async function claimAbandonedJobs(db: Db, owner: string, leaseMs: number, now = new Date()): Promise<VmJob[]> {
  // Few jobs run at once: the live leases are read too, to find those whose owner on this host has died.
  const running = await db.vmJob.findMany({ where: { state: "RUNNING" }, orderBy: { startedAt: "asc" } });
  const candidates = running.filter(
    (j) => j.leaseExpiresAt === null || j.leaseExpiresAt < now || j.leaseOwner === null || (j.leaseOwner !== owner && leaseOwnerIsGone(j.leaseOwner)),
  );
  const claimed: VmJob[] = [];
  for (const job of candidates) {
    const taken = await db.vmJob.updateMany({
      where: { id: job.id, state: "RUNNING", leaseOwner: job.leaseOwner, leaseExpiresAt: job.leaseExpiresAt },
      data: leaseFields(owner, leaseMs, now),
    });
    if (taken.count === 1) claimed.push({ ...job, ...leaseFields(owner, leaseMs, now) });
  }
  return claimed;
}

/** Gives a job's lease up at once (this process stops without finishing it), so the next runner need not wait for it to run out. */
export async function expireJobLease(db: Db, jobId: string, owner: string): Promise<void> {
  await db.vmJob.updateMany({ where: { id: jobId, leaseOwner: owner, state: "RUNNING" }, data: { leaseExpiresAt: new Date() } });
}

/**
 * Renews the leases of the jobs a runner holds, every third of the lease, in
 * one write. A failed renewal is logged and tried again at the next beat: a
 * database away for less than the lease costs nothing.
 */
export class JobLeaseHeartbeat {
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> = Promise.resolve();
  private lastError = "";

  constructor(
    private readonly db: Db,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly held: () => string[],
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
    return this;
  }

  beat(): Promise<void> {
    this.beating = this.beating.then(async () => {
      const ids = this.held();
      if (ids.length === 0) return;
      try {
        // A job that has just ended (no longer RUNNING) is simply not renewed.
        await this.db.vmJob.updateMany({
          where: { id: { in: ids }, leaseOwner: this.owner, state: "RUNNING" },
          data: { leaseExpiresAt: new Date(Date.now() + this.leaseMs) },
        });
        this.lastError = "";
      } catch (err) {
        const message = dbErrorText(err);
        if (message !== this.lastError) console.error(`[vms] could not renew job leases: ${message}`);
        this.lastError = message;
      }
    });
    return this.beating;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
  }
}
