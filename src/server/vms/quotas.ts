// Per-user quotas: defaults from settings, per-user overrides (UserQuota rows,
// set by admins), and the checks a launch or a start must pass. A refusal
// names the limit that was hit.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { DomainError } from "../errors";
import { balanceOf, ensureInitialGrant } from "./ledger";
import { hourlyCost, roundCredits, type PricedSpec } from "./pricing";
import { RUNNING_QUOTA_STATES } from "./transitions";

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

export async function effectiveQuota(db: Db, userId: string, e: Env = env()): Promise<Quota> {
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

/** What a user's VMs take now: every VM not destroyed counts; running counts the ones up or on their way up. */
export async function usageOf(db: Db, userId: string): Promise<Usage> {
  const vms = await db.vm.findMany({ where: { ownerId: userId, state: { not: "DESTROYED" } }, select: { cpus: true, ramMb: true, diskGb: true, state: true } });
  return {
    vms: vms.length,
    cpus: vms.reduce((s, v) => s + v.cpus, 0),
    ramMb: vms.reduce((s, v) => s + v.ramMb, 0),
    diskGb: vms.reduce((s, v) => s + v.diskGb, 0),
    running: vms.filter((v) => RUNNING_QUOTA_STATES.includes(v.state)).length,
  };
}

/** Hourly cost of the VMs that are up now. */
export async function runningHourlyCost(db: Db, userId: string, e: Env = env()): Promise<number> {
  const vms = await db.vm.findMany({ where: { ownerId: userId, state: { in: [...RUNNING_QUOTA_STATES] } }, select: { cpus: true, ramMb: true, diskGb: true } });
  return roundCredits(vms.reduce((s, v) => s + hourlyCost(v, e), 0));
}

const refuse = (message: string) => new DomainError("PRECONDITION_FAILED", message);

/** A new VM must fit every quota and be affordable, with what already runs, for one hour. */
export async function checkLaunchAllowed(db: Db, userId: string, spec: PricedSpec, e: Env = env()): Promise<void> {
  const [quota, usage] = await Promise.all([effectiveQuota(db, userId, e), usageOf(db, userId)]);
  if (usage.vms + 1 > quota.maxVms) throw refuse(`Quota reached: at most ${quota.maxVms} VMs (you have ${usage.vms}). Destroy one first.`);
  if (usage.cpus + spec.cpus > quota.maxCpus)
    throw refuse(`Quota reached: at most ${quota.maxCpus} vCPUs in total (you use ${usage.cpus}, this VM asks for ${spec.cpus}).`);
  if (usage.ramMb + spec.ramMb > quota.maxRamMb)
    throw refuse(`Quota reached: at most ${quota.maxRamMb} MB of RAM in total (you use ${usage.ramMb} MB, this VM asks for ${spec.ramMb} MB).`);
  if (usage.diskGb + spec.diskGb > quota.maxDiskGb)
    throw refuse(`Quota reached: at most ${quota.maxDiskGb} GB of disk in total (you use ${usage.diskGb} GB, this VM asks for ${spec.diskGb} GB).`);
  if (usage.running + 1 > quota.maxRunning) throw refuse(`Quota reached: at most ${quota.maxRunning} VMs running at once. Stop one first.`);
  await checkAffordable(db, userId, hourlyCost(spec, e), e);
}

/** Starting a stopped VM must fit the running quota and be affordable for an hour. */
export async function checkStartAllowed(db: Db, userId: string, spec: PricedSpec, e: Env = env()): Promise<void> {
  const [quota, usage] = await Promise.all([effectiveQuota(db, userId, e), usageOf(db, userId)]);
  if (usage.running + 1 > quota.maxRunning) throw refuse(`Quota reached: at most ${quota.maxRunning} VMs running at once. Stop one first.`);
  await checkAffordable(db, userId, hourlyCost(spec, e), e);
}

async function checkAffordable(db: Db, userId: string, addedHourly: number, e: Env): Promise<void> {
  await ensureInitialGrant(db, userId, e);
  const [balance, running] = await Promise.all([balanceOf(db, userId), runningHourlyCost(db, userId, e)]);
  const needed = roundCredits(running + addedHourly);
  if (balance < needed)
    throw refuse(
      `Not enough credits: running this for one hour needs ${needed.toFixed(2)} credits` +
        `${running > 0 ? ` (including ${running.toFixed(2)}/h for the VMs already running)` : ""}, and your balance is ${balance.toFixed(2)}.`,
    );
}
