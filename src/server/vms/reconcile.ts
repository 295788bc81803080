// Reconciliation: the database follows what Vagrant reports. Runs after every
// operation and for every job whose runner is gone (the app crashed or was
// stopped mid-operation: its lease ran out, see job-lease.ts), once the job's
// Vagrant, if it outlived the app, has ended (orphans.ts); so no VM stays
// CREATING or STOPPING.
import { rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import type { VmState } from "~/generated/prisma/sqlite/enums";
import type { VmJob } from "~/generated/prisma/sqlite/client";
import { retryDb, type RetryOptions } from "../db/retry";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { recordEvent } from "../events/record";
import { parseSshConfig, parseStatus, commandOutcome } from "./machine-readable";
import { chargeVm } from "./metering";
import { vmFolder } from "../folders";
import { BUSY_STATES, OPERATION_OF_KIND, stateFromVagrant, UP_STATES, type VmOperation } from "./transitions";
import { runVagrant } from "./vagrant-cli";
import { setUpGuestAccessAfterBoot } from "../access/guest-access";
import { wakeSshForwarder } from "../access/ssh-forwarder";
import { releaseOwnerNetworkIfUnused } from "../network/owner-networks";
import { claimAbandonedJobs, expireJobLease, JobLeaseHeartbeat, jobLeaseMs, newJobLeaseOwner, retireJobLeaseOwner } from "./job-lease";
import { jobTimeouts, type JobTimeouts } from "./job-timeouts";
import { awaitOrphanedVagrant, isSameProcessAlive, jobOutputFile, orphanOutput, recordedVagrant, type OrphanOutcome } from "./orphans";

const STATUS_TIMEOUT_MS = 60_000;

export interface ObservedState {
  state: VmState;
  error: string | null;
  /** Vagrant's own state name, or null when it could not be read. */
  vagrantState: string | null;
}

export interface ObserveOptions {
  /**
   * vagrant-libvirt says "inaccessible" for a domain that runs but has no
   * address yet: a guest still booting after its `vagrant up` was killed, or
   * libvirt's DHCP lagging. Vagrant is asked again this often, for up to
   * INACCESSIBLE_RECHECKS times, before the VM is called ERROR.
   */
  recheckMs?: number;
  /** How many times (default INACCESSIBLE_RECHECKS); 0 when waiting cannot help. */
  rechecks?: number;
}

const INACCESSIBLE_RECHECKS = 12;
const INACCESSIBLE_RECHECK_MS = 5_000;

/** Asks `vagrant status --machine-readable` and maps the answer onto our states. */
export async function observeVm(vmId: string, operation: VmOperation | null, e: Env = env(), opts: ObserveOptions = {}): Promise<ObservedState> {
  let observed = await observeOnce(vmId, operation, e);
  for (let i = 0; i < (opts.rechecks ?? INACCESSIBLE_RECHECKS) && observed.vagrantState === "inaccessible"; i++) {
    await new Promise((r) => setTimeout(r, opts.recheckMs ?? INACCESSIBLE_RECHECK_MS));
    observed = await observeOnce(vmId, operation, e);
  }
  return observed;
}

async function observeOnce(vmId: string, operation: VmOperation | null, e: Env): Promise<ObservedState> {
  const folder = vmFolder(vmId, e);
  if (!existsSync(folder)) {
    if (operation === "destroy") return { state: "DESTROYED", error: null, vagrantState: null };
    return { state: "ERROR", error: "The VM's folder is missing on the host.", vagrantState: null };
  }
  const result = await runVagrant({ args: ["status", "--machine-readable"], cwd: folder, timeoutMs: STATUS_TIMEOUT_MS }, e);
  const status = parseStatus(result.stdout);
  if (!status) {
    const outcome = commandOutcome(result);
    return {
      state: "ERROR",
      error: `Could not read the VM's state from Vagrant: ${result.timedOut ? "vagrant status timed out" : (outcome.error ?? "no state in its output")}`,
      vagrantState: null,
    };
  }
  return { ...stateFromVagrant(status.state, { operation }), vagrantState: status.state };
}

export interface SettleInput {
  state: VmState;
  error?: string | null;
  errorOutput?: string | null;
  /** The VM just (re)booted: uptime counts from now. */
  booted?: boolean;
  /** Going down: the final charge ends here (the last time it was seen running) instead of now. */
  chargeUntil?: Date;
}

/**
 * Writes a VM's settled state with its side effects: metering starts when it
 * comes up and ends (final charge) when it goes down; a destroyed VM gives its
 * name back and loses its folder; a running VM gets its address.
 */
export async function settleVm(db: Db, vmId: string, input: SettleInput, e: Env = env()): Promise<void> {
  const now = new Date();
  const vm = await db.vm.findUniqueOrThrow({ where: { id: vmId }, select: { id: true, ownerId: true, meteredUntil: true } });
  const up = UP_STATES.includes(input.state);
  if (!up && vm.meteredUntil) await chargeVm(db, vm.id, input.chargeUntil && input.chargeUntil < now ? input.chargeUntil : now, { final: true }, e);
  let ssh: { ipAddress: string | null; sshUser: string | null; sshPort: number | null } = { ipAddress: null, sshUser: null, sshPort: null };
  if (input.state === "RUNNING") {
    const result = await runVagrant({ args: ["ssh-config"], cwd: vmFolder(vm.id, e), timeoutMs: STATUS_TIMEOUT_MS }, e);
    const config = result.exitCode === 0 ? parseSshConfig(result.stdout) : null;
    if (config) ssh = { ipAddress: config.hostName, sshUser: config.user, sshPort: config.port };
  }
  if (input.state === "DESTROYED") await rm(vmFolder(vm.id, e), { recursive: true, force: true });
  await db.vm.update({
    where: { id: vm.id },
    data: {
      state: input.state,
      error: input.error ?? null,
      errorOutput: input.errorOutput ?? null,
      ...ssh,
      ...(input.booted ? { startedAt: now } : {}),
      ...(up && !vm.meteredUntil ? { meteredUntil: now } : {}),
      // A destroyed VM's forwarded SSH port goes back to the pool.
      ...(input.state === "DESTROYED" ? { activeName: null, destroyedAt: now, hostSshPort: null } : {}),
    },
  });
  // SSH forwarding follows the new state now rather than on its next pass.
  wakeSshForwarder();
  if (input.state === "DESTROYED") await releaseOwnerNetworkIfUnused(db, vm.ownerId, e);
}

export interface RecoverOptions {
  /** The runner taking the jobs over (default: a lease owner of this call's own). */
  owner?: string;
  leaseMs?: number;
  timeouts?: Partial<JobTimeouts>;
  /** Stop waiting for Vagrant processes that outlived their app (this process is stopping). */
  signal?: AbortSignal;
  /** How often a surviving Vagrant process is looked at (tests shorten it). */
  orphanPollMs?: number;
  observe?: ObserveOptions;
  retry?: RetryOptions;
}

/**
 * Every RUNNING job that no live runner holds (its lease ran out, or its owner
 * on this host is gone) is claimed and recovered: its Vagrant, if it outlived
 * the app, is waited for (ended at the job's time limit), then the job is
 * marked interrupted and its VM reconciled. Also reconciles any VM left in a
 * busy state without a live job. Returns how many jobs and VMs it recovered.
 */
export async function recoverInterruptedJobs(db: Db, e: Env = env(), opts: RecoverOptions = {}): Promise<number> {
  const owner = opts.owner ?? newJobLeaseOwner();
  const leaseMs = opts.leaseMs ?? jobLeaseMs(e);
  const jobs = await claimAbandonedJobs(db, owner, leaseMs);
  const pending = new Set(jobs.map((j) => j.id));
  // Waiting for a surviving Vagrant can outlast the lease: keep it renewed, so nobody else takes these jobs meanwhile.
  const heartbeat = new JobLeaseHeartbeat(db, owner, leaseMs, () => [...pending]).start();
  try {
    await Promise.all(jobs.map((job) => recoverJob(db, job, e, { ...opts, owner }).finally(() => pending.delete(job.id))));
  } finally {
    await heartbeat.stop();
    if (!opts.owner) retireJobLeaseOwner(owner);
  }
  return jobs.length + (await reconcileStuckVms(db, e));
}

/** VMs left in a busy state (creating, stopping…) without a queued or running job: their state is read back from Vagrant. */
export async function reconcileStuckVms(db: Db, e: Env = env()): Promise<number> {
  const stuck = await db.vm.findMany({
    where: { state: { in: [...BUSY_STATES] }, jobs: { none: { state: { in: ["QUEUED", "RUNNING"] } } } },
    select: { id: true, state: true },
  });
  for (const vm of stuck) {
    const observed = await observeVm(vm.id, vm.state === "DESTROYING" ? "destroy" : null, e);
    await settleVm(db, vm.id, { state: observed.state, error: observed.error }, e);
  }
  return stuck.length;
}

/**
 * Recovers one claimed job whose runner is gone: the VM's state is saved before
 * the job is marked interrupted. A database failure that outlasts the retries
 * is thrown with the job still RUNNING: its lease runs out once nobody renews
 * it, and the next sweep tries again.
 */
export async function recoverJob(db: Db, claimed: VmJob, e: Env = env(), opts: RecoverOptions & { owner: string }): Promise<void> {
  const job = await retryDb("reading the interrupted job", () => db.vmJob.findUniqueOrThrow({ where: { id: claimed.id }, include: { vm: true } }), opts.retry);
  const operation = OPERATION_OF_KIND[job.kind];
  const limitMs = { ...jobTimeouts(e), ...opts.timeouts }[job.kind];
  const survivor = recordedVagrant(job);
  let waited: OrphanOutcome = "none";
  if (survivor && isSameProcessAlive(survivor)) {
    console.log(`[vms] ${job.vm.name}: vagrant (PID ${survivor.pid}) outlived the app that ran this ${operation}; waiting for it`);
    await retryDb(
      "noting the wait",
      () =>
        db.vmJob.update({
          where: { id: job.id },
          data: {
            step: "Waiting for Vagrant, which went on while the app restarted",
            output: `${job.output}[twarga] The app restarted while Vagrant ran; waiting for it to end\n`,
          },
        }),
      opts.retry,
    );
    const deadline = new Date((job.startedAt ?? job.createdAt).getTime() + limitMs);
    waited = await awaitOrphanedVagrant(survivor, { deadline, signal: opts.signal, pollMs: opts.orphanPollMs });
    if (waited === "abandoned") {
      // This process stops first: the next runner takes the job, and its Vagrant, over.
      await expireJobLease(db, job.id, opts.owner).catch(() => {});
      return;
    }
  }
  let ran = "";
  let output = (await db.vmJob.findUnique({ where: { id: job.id }, select: { output: true } }).catch(() => null))?.output ?? job.output;
  if (survivor) {
    // A Vagrant that was waited for, or one that ended by itself while no app ran: what it wrote meanwhile, and how it ended.
    const { tail, ended, error } = await orphanOutput(jobOutputFile(job.vmId, e));
    if (waited !== "none" || ended) {
      output += `[twarga] Vagrant's last lines, written while the app was down:\n${tail.map((l) => `${l}\n`).join("")}`;
      ran =
        waited === "ended"
          ? ` Vagrant went on without the app past the ${Math.round(limitMs / 1000)} s time limit and was ended.`
          : error
            ? ` Vagrant went on without the app and failed: ${error}`
            : " Vagrant went on without the app and finished.";
    }
  }
  const observed = await observeVm(job.vmId, operation, e, opts.observe);
  const message = `Interrupted: the app stopped while this ${operation} ran.${ran} Vagrant now reports ${observed.vagrantState ?? "no state"}; the VM is ${observed.state.toLowerCase()}.`;
  await retryDb(
    "saving the VM's state",
    () =>
      settleVm(
        db,
        job.vmId,
        {
          state: observed.state,
          error: observed.state === "ERROR" ? (observed.error ?? message) : null,
          booted: observed.state === "RUNNING" && operation !== "stop",
        },
        e,
      ),
    opts.retry,
  ); // thrown on: the job stays RUNNING, its lease runs out and the next sweep tries again
  // A boot that finished without the app: its guest still needs its keys, and password login off. Done while the job
  // still runs, so the VM takes no other operation (a destroy) meanwhile.
  if (observed.state === "RUNNING" && (job.kind === "CREATE" || job.kind === "START" || job.kind === "RESTART")) {
    await setUpGuestAccessAfterBoot(db, job.vmId, job.kind, { id: job.requestedById, email: job.requestedByEmail }, e).catch(async (err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      console.error(`[vms] ${job.vm.name}: ${reason}`);
      await recordEvent(db, {
        type: "vm",
        action: "vm.keys.setup-failed",
        severity: "WARNING",
        message: `${job.vm.name}: ${reason}`,
        targetUserId: job.vm.ownerId,
        targetVmId: job.vmId,
      }).catch(() => {});
    });
  }
  await retryDb(
    "recording the interrupted job",
    () =>
      db.vmJob.update({
        where: { id: job.id },
        data: { state: "INTERRUPTED", finishedAt: new Date(), message, output: `${output}[twarga] ${message}\n`, step: "Interrupted", leaseExpiresAt: null },
      }),
    opts.retry,
  );
  await retryDb(
    "recording the event",
    () =>
      recordEvent(db, {
        type: "vm",
        action: `vm.${operation}`,
        severity: "WARNING",
        message: `${job.vm.name}: ${message}`,
        actorId: job.requestedById,
        actorEmail: job.requestedByEmail,
        targetUserId: job.vm.ownerId,
        targetVmId: job.vmId,
        details: { jobId: job.id, outcome: "interrupted", state: observed.state, vagrant: waited },
      }),
    opts.retry,
  ).catch((err: unknown) => console.error(`[vms] ${job.vm.name}: could not record the event:`, err));
}
