// Reads for pages, the API and other areas. Every read for a person goes
// through canViewVm. (The sampler's host-side list is in observed-state.ts.)
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { notFound } from "../errors";
import { canListAllVms, canViewVm, type Actor } from "../permissions";
import { currentBalance } from "./ledger";
import { loadVisibleVm } from "./lifecycle";
import { publicSshHost, sshForwardingEnabled } from "../access/ssh-ports";
import { hourlyCost } from "./pricing";
import { MAX_OUTPUT_CHARS } from "./runner";
import { defaultQuota, effectiveQuota, usageOf } from "./quotas";
import { allowedOperations, UP_STATES } from "./transitions";

const ACTIVE_JOB = { state: { in: ["QUEUED" as const, "RUNNING" as const] } };
const JOB_SUMMARY = {
  id: true,
  kind: true,
  state: true,
  step: true,
  progress: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  exitCode: true,
  message: true,
  requestedByEmail: true,
} as const;

/** The actor's VMs (an admin's list holds everyone's), newest first, with any operation in progress. */
export async function listVms(db: Db, actor: Actor, options: { includeDestroyed?: boolean } = {}, e: Env = env()) {
  const rows = await db.vm.findMany({
    where: { ...(canListAllVms(actor) ? {} : { ownerId: actor.id }), ...(options.includeDestroyed ? {} : { state: { not: "DESTROYED" } }) },
    orderBy: { createdAt: "desc" },
    include: {
      box: { select: { displayName: true } },
      owner: { select: { email: true } },
      jobs: { where: ACTIVE_JOB, orderBy: { createdAt: "desc" }, take: 1, select: JOB_SUMMARY },
    },
  });
  return rows
    .filter((vm) => canViewVm(actor, vm))
    .map(({ jobs, box, owner, ...vm }) => ({
      id: vm.id,
      name: vm.name,
      state: vm.state,
      cpus: vm.cpus,
      ramMb: vm.ramMb,
      diskGb: vm.diskGb,
      ipAddress: vm.ipAddress,
      boxName: box.displayName,
      ownerEmail: owner.email,
      createdAt: vm.createdAt,
      startedAt: vm.startedAt,
      error: vm.error,
      hourlyCost: hourlyCost(vm, e),
      activeJob: jobs[0] ?? null,
      actions: allowedOperations(vm.state),
    }));
}

/**
 * The one command the VM page offers: through the VM's forwarded port on the
 * public host, as the guest's login user, with the user's own key (ssh finds
 * it as usual). No key path, no host-only address. With forwarding off (or no
 * port left for this VM) it names the guest's own address, which only a
 * network that reaches the VMs can use.
 */
export function sshCommand(
  vm: { ipAddress: string | null; sshUser: string | null; sshPort: number | null; hostSshPort: number | null },
  e: Env = env(),
): { command: string; forwarded: boolean } | null {
  if (!vm.ipAddress) return null;
  const user = vm.sshUser ?? "vagrant";
  if (sshForwardingEnabled(e) && vm.hostSshPort !== null) return { command: `ssh -p ${vm.hostSshPort} ${user}@${publicSshHost(e)}`, forwarded: true };
  const port = vm.sshPort && vm.sshPort !== 22 ? `-p ${vm.sshPort} ` : "";
  return { command: `ssh ${port}${user}@${vm.ipAddress}`, forwarded: false };
}

/** Everything the details page shows. */
export async function getVmDetails(db: Db, actor: Actor, vmId: string, now = new Date(), e: Env = env()) {
  await loadVisibleVm(db, actor, vmId);
  const vm = await db.vm.findUniqueOrThrow({
    where: { id: vmId },
    include: { box: true, owner: { select: { id: true, email: true, name: true } }, jobs: { orderBy: { createdAt: "desc" }, take: 50, select: JOB_SUMMARY } },
  });
  const { jobs, box, owner, ...rest } = vm;
  const up = UP_STATES.includes(vm.state);
  const ssh = vm.state === "RUNNING" ? sshCommand(vm, e) : null;
  return {
    ...rest,
    box: { id: box.id, name: box.name, displayName: box.displayName, osFamily: box.osFamily },
    owner,
    hourlyCost: hourlyCost(vm, e),
    uptimeSeconds: up && vm.startedAt ? Math.max(0, Math.floor((now.getTime() - vm.startedAt.getTime()) / 1000)) : null,
    sshCommand: ssh?.command ?? null,
    /** Whether sshCommand goes through the host's forwarded port (else it needs a route to the VM network). */
    sshForwarded: ssh?.forwarded ?? false,
    sshForwardingEnabled: sshForwardingEnabled(e),
    actions: allowedOperations(vm.state),
    activeJob: jobs.find((j) => j.state === "QUEUED" || j.state === "RUNNING") ?? null,
    jobs,
  };
}

/** A job with its output; `fromOffset` returns only what was added since a previous read. */
export async function getJobOutput(db: Db, actor: Actor, jobId: string, fromOffset = 0) {
  const job = await db.vmJob.findUnique({ where: { id: jobId }, include: { vm: { select: { ownerId: true, name: true } } } });
  if (!job || !canViewVm(actor, job.vm)) throw notFound("Job");
  // Once the output hits its cap its start is trimmed and offsets shift: send it whole.
  const start = fromOffset <= job.output.length && job.output.length < MAX_OUTPUT_CHARS ? fromOffset : 0;
  return {
    id: job.id,
    vmId: job.vmId,
    vmName: job.vm.name,
    kind: job.kind,
    state: job.state,
    step: job.step,
    progress: job.progress,
    message: job.message,
    exitCode: job.exitCode,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    requestedByEmail: job.requestedByEmail,
    offset: start,
    /** The output from `offset` on; a start of 0 means the whole output (it may have been trimmed). */
    output: job.output.slice(start),
    length: job.output.length,
  };
}

export async function listVmJobs(db: Db, actor: Actor, vmId: string) {
  await loadVisibleVm(db, actor, vmId);
  return db.vmJob.findMany({ where: { vmId }, orderBy: { createdAt: "desc" }, take: 100, select: JOB_SUMMARY });
}

/** The actor's own quota, usage and balance, for the launch form and the warning banner. */
export async function myAccount(db: Db, actor: Actor, e: Env = env()) {
  const [quota, usage, balance] = await Promise.all([effectiveQuota(db, actor.id, e), usageOf(db, actor.id), currentBalance(db, actor.id, e)]);
  const running = await db.vm.findMany({ where: { ownerId: actor.id, state: { in: [...UP_STATES] } }, select: { cpus: true, ramMb: true, diskGb: true } });
  const burnPerHour = running.reduce((s, v) => s + hourlyCost(v, e), 0);
  return {
    quota,
    defaults: defaultQuota(e),
    usage,
    balance,
    burnPerHour,
    lowBalance: balance < e.CREDITS_LOW_WARNING,
    lowBalanceThreshold: e.CREDITS_LOW_WARNING,
    prices: { cpuHour: e.PRICE_CPU_HOUR, ramGbHour: e.PRICE_RAM_GB_HOUR, diskGbHour: e.PRICE_DISK_GB_HOUR },
  };
}
