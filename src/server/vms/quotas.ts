// Per-user quotas: defaults from settings, per-user overrides (UserQuota rows,
// set by admins), and the claim every path that makes a VM count must win:
// launch, start, restart and admin start. A refusal names the limit that was hit.
//
// Quotas under concurrency: a claim is one database transaction that first
// writes the owner's UserQuotaLock row, then reads usage and the balance, and
// only then inserts the VM or moves its state. The write serialises claims for
// one user across every process: on PostgreSQL it holds the row's lock until
// commit (READ COMMITTED, so every read after it sees the claims committed
// before); on SQLite it takes the database's write lock, so the whole claim
// runs as if it had begun with BEGIN IMMEDIATE (another process waits for the
// lock up to the busy timeout, and a claim that still finds it taken is run
// again). Stopping and destroying free resources and take no claim.
import type { Db } from "../db/client";
import { retryTransaction, type Tx } from "../db/retry";
import { env, type Env } from "../env";
import { DomainError } from "../errors";
import { balanceOf, ensureInitialGrant } from "./ledger";
import { hourlyCost, roundCredits, type PricedSpec } from "./pricing";
import { OPERATIONS, RUNNING_QUOTA_STATES } from "./transitions";

export interface Quota {
  maxVms: number;
  maxCpus: number;
  maxRamMb: number;
  maxDiskGb: number;
  maxRunning: number;
}

export interface Usage {
  vms: number;
  cpus: number;
  ramMb: number;
  diskGb: number;
  running: number;
}

export function defaultQuota(e: Env = env()): Quota {
  return { maxVms: e.QUOTA_MAX_VMS, maxCpus: e.QUOTA_MAX_CPUS, maxRamMb: e.QUOTA_MAX_RAM_MB, maxDiskGb: e.QUOTA_MAX_DISK_GB, maxRunning: e.QUOTA_MAX_RUNNING };
}

export async function effectiveQuota(db: Db | Tx, userId: string, e: Env = env()): Promise<Quota> {
  const base = defaultQuota(e);
  const o = await db.userQuota.findUnique({ where: { userId } });
  if (!o) return base;
  return {
    maxVms: o.maxVms ?? base.maxVms,
    maxCpus: o.maxCpus ?? base.maxCpus,
    maxRamMb: o.maxRamMb ?? base.maxRamMb,
    maxDiskGb: o.maxDiskGb ?? base.maxDiskGb,
    maxRunning: o.maxRunning ?? base.maxRunning,
  };
}

/** Admins set (or clear, with null) a user's overrides. */
export async function setUserQuota(db: Db, userId: string, overrides: Partial<Record<keyof Quota, number | null>>): Promise<Quota> {
  await db.userQuota.upsert({ where: { userId }, create: { userId, ...overrides }, update: overrides });
  return effectiveQuota(db, userId);
}

/** What a user's VMs take now: every VM not destroyed counts (PENDING and CREATING too); running counts the ones up or on their way up. */
export async function usageOf(db: Db | Tx, userId: string): Promise<Usage> {
  const vms = await db.vm.findMany({ where: { ownerId: userId, state: { not: "DESTROYED" } }, select: { cpus: true, ramMb: true, diskGb: true, state: true } });
  return {
    vms: vms.length,
    cpus: vms.reduce((s, v) => s + v.cpus, 0),
    ramMb: vms.reduce((s, v) => s + v.ramMb, 0),
    diskGb: vms.reduce((s, v) => s + v.diskGb, 0),
    running: vms.filter((v) => RUNNING_QUOTA_STATES.includes(v.state)).length,
  };
}

/** Hourly cost of the VMs that are up now or on their way up. */
export async function runningHourlyCost(db: Db | Tx, userId: string, e: Env = env()): Promise<number> {
  const vms = await db.vm.findMany({ where: { ownerId: userId, state: { in: [...RUNNING_QUOTA_STATES] } }, select: { cpus: true, ramMb: true, diskGb: true } });
  return roundCredits(vms.reduce((s, v) => s + hourlyCost(v, e), 0));
}

/** What a claim asks for. */
export type Claim =
  /** A new VM: every quota, and one hour of credits for it beside what already runs. */
  | { kind: "launch"; spec: PricedSpec }
  /** A stopped or failed VM comes up: the running quota, and one hour of credits for it beside what already runs. */
  | { kind: "start"; vmId: string }
  /**
   * A running VM reboots. It already counts, so no quota can be crossed, and
   * lowering a quota below what a user has never stops them rebooting what they
   * have. But a reboot is a new boot the user asks for, so the balance must
   * cover the next hour of everything that runs, this VM counted once.
   */
  | { kind: "restart"; vmId: string };

const refuse = (message: string) => new DomainError("PRECONDITION_FAILED", message);

/**
 * Runs `write` (insert the VM, or move its state and queue its job) only if
 * the claim fits the owner's quotas and balance, in one transaction that holds
 * the owner's quota lock, so no concurrent claim by any process can fit in the
 * same room. Throws PRECONDITION_FAILED naming the limit otherwise.
 */
export async function withQuotaClaim<T>(db: Db, userId: string, claim: Claim, write: (tx: Tx) => Promise<T>, e: Env = env()): Promise<T> {
  // Before the claim: two first requests race on this insert's unique key, which on PostgreSQL would abort the claim's transaction.
  await ensureInitialGrant(db, userId, e);
  const outcome = await retryTransaction(() =>
    db.$transaction(
      async (tx) => {
        await takeQuotaLock(tx, userId);
        const refusal = await refusalOf(tx, userId, claim, e);
        // A refusal commits (all it wrote is the lock row's counter) instead of
        // rolling back: on SQLite every query of this process shares the one
        // connection, so a rollback would also undo whatever other requests wrote meanwhile.
        if (refusal) return { refused: true as const, refusal };
        return { refused: false as const, value: await write(tx) };
      },
      // Claims for one user queue on the lock; 20 at once must wait, not time out.
      { maxWait: 15_000, timeout: 30_000 },
    ),
  );
  if (outcome.refused) throw refuse(outcome.refusal);
  return outcome.value;
}

/**
 * Writes the owner's lock row, creating it on first use. One statement that
 * writes before anything is read: on SQLite a transaction that read first and
 * then finds another process's newer commit fails at once instead of waiting.
 */
async function takeQuotaLock(tx: Tx, userId: string): Promise<void> {
  await tx.$executeRaw`INSERT INTO "UserQuotaLock" ("userId", "claims") VALUES (${userId}, 1) ON CONFLICT ("userId") DO UPDATE SET "claims" = "UserQuotaLock"."claims" + 1`;
}

/** Why the claim does not fit, or null when it does. Reads inside the claim's transaction. */
async function refusalOf(tx: Tx, userId: string, claim: Claim, e: Env): Promise<string | null> {
  const quota = await effectiveQuota(tx, userId, e);
  const usage = await usageOf(tx, userId);
  if (claim.kind === "launch") {
    const spec = claim.spec;
    if (usage.vms + 1 > quota.maxVms) return `Quota reached: at most ${quota.maxVms} VMs (you have ${usage.vms}). Destroy one first.`;
    if (usage.cpus + spec.cpus > quota.maxCpus)
      return `Quota reached: at most ${quota.maxCpus} vCPUs in total (you use ${usage.cpus}, this VM asks for ${spec.cpus}).`;
    if (usage.ramMb + spec.ramMb > quota.maxRamMb)
      return `Quota reached: at most ${quota.maxRamMb} MB of RAM in total (you use ${usage.ramMb} MB, this VM asks for ${spec.ramMb} MB).`;
    if (usage.diskGb + spec.diskGb > quota.maxDiskGb)
      return `Quota reached: at most ${quota.maxDiskGb} GB of disk in total (you use ${usage.diskGb} GB, this VM asks for ${spec.diskGb} GB).`;
    if (usage.running + 1 > quota.maxRunning) return `Quota reached: at most ${quota.maxRunning} VMs running at once. Stop one first.`;
    return affordabilityRefusal(tx, userId, { addedHourly: hourlyCost(spec, e) }, e);
  }
  const vm = await tx.vm.findUnique({ where: { id: claim.vmId }, select: { state: true, cpus: true, ramMb: true, diskGb: true } });
  // A VM that cannot take this operation now is refused by the state's compare-and-set that follows, with its own message.
  if (!vm || !OPERATIONS[claim.kind].from.includes(vm.state)) return null;
  if (claim.kind === "restart") return affordabilityRefusal(tx, userId, "restart", e);
  if (usage.running + 1 > quota.maxRunning) return `Quota reached: at most ${quota.maxRunning} VMs running at once. Stop one first.`;
  return affordabilityRefusal(tx, userId, { addedHourly: hourlyCost(vm, e) }, e);
}

/** The balance must cover one hour of what runs plus what comes up (a restart's VM already runs). */
async function affordabilityRefusal(tx: Tx, userId: string, adding: { addedHourly: number } | "restart", e: Env): Promise<string | null> {
  const balance = await balanceOf(tx, userId);
  const running = await runningHourlyCost(tx, userId, e);
  const needed = roundCredits(running + (adding === "restart" ? 0 : adding.addedHourly));
  if (balance >= needed) return null;
  if (adding === "restart")
    return `Not enough credits: your running VMs, this one included, need ${needed.toFixed(2)} credits for the next hour, and your balance is ${balance.toFixed(2)}.`;
  return (
    `Not enough credits: running this for one hour needs ${needed.toFixed(2)} credits` +
    `${running > 0 ? ` (including ${running.toFixed(2)}/h for the VMs already running)` : ""}, and your balance is ${balance.toFixed(2)}.`
  );
}
