// Cancelling jobs, and a destroy that works in every state.
//
// A queued job is cancelled at once (a compare-and-set on QUEUED, so a runner
// that claims it at the same moment wins or loses cleanly). A queued create
// had made nothing on the host yet: its VM is settled DESTROYED, which gives
// back its name, its forwarded port, its place in the owner's network and
// what it held of the quota (quotas count the VMs not destroyed). A running
// create is marked cancel-requested; the runner that holds it ends its
// Vagrant process (runner.ts), then finishCancelledJob destroys whatever the
// create made and settles the VM from what Vagrant reports.
import { existsSync } from "node:fs";
import type { VmJob } from "~/generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { conflict, DomainError, forbidden, notFound } from "../errors";
import { recordEvent } from "../events/record";
import { vmFolder } from "../folders";
import { canActOnVm, canViewVm, type Actor } from "../permissions";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { loadVisibleVm, requestVmOperation } from "./lifecycle";
import { commandOutcome } from "./machine-readable";
import { observeVm, settleVm } from "./reconcile";
import { wakeJobRunner } from "./runner";
import { BUSY_STATES, OPERATION_OF_KIND, OPERATIONS } from "./transitions";
import { runVagrant } from "./vagrant-cli";

export type CancelOutcome = "cancelled" | "cancelling";

async function loadActableJob(db: Db, actor: Actor, jobId: string) {
  const job = await db.vmJob.findUnique({ where: { id: jobId }, include: { vm: { select: { id: true, name: true, ownerId: true, state: true } } } });
  if (!job || !canViewVm(actor, job.vm)) throw notFound("Job");
  if (!canActOnVm(actor, job.vm)) throw forbidden("You cannot act on this VM.");
  return job;
}

/**
 * Cancels a job: at once while it is queued; a running create (or a job that a
 * destroy interrupts) ends once the runner has ended its Vagrant process.
 * Other running jobs cannot be cancelled (a half-done stop or start is undone
 * by destroying the VM, which the destroy button does in any state).
 */
export async function cancelJob(
  db: Db,
  actor: Actor,
  jobId: string,
  request: RequestInfo = NO_REQUEST,
  e: Env = env(),
): Promise<{ job: VmJob; outcome: CancelOutcome }> {
  const job = await loadActableJob(db, actor, jobId);
  const operation = OPERATION_OF_KIND[job.kind];
  if (job.state === "QUEUED") {
    const cancelled = await cancelQueuedJob(db, actor, job, request, e);
    if (cancelled) return { job: cancelled, outcome: "cancelled" };
  }
  const now = await db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
  if (now.state !== "RUNNING") throw conflict(`This ${operation} has already ended (${now.state.toLowerCase()}).`);
  if (job.kind !== "CREATE" && now.cancelRequestedAt === null)
    throw new DomainError(
      "PRECONDITION_FAILED",
      `A running ${operation} cannot be cancelled. Wait for it to end, or destroy the VM (that works while it runs).`,
    );
  return { job: await markRunningJobCancelled(db, actor, now, job.vm, request), outcome: "cancelling" };
}

/** Marks a QUEUED job CANCELLED and puts its VM back; null when a runner claimed it first. */
async function cancelQueuedJob(
  db: Db,
  actor: Actor,
  job: VmJob & { vm: { id: string; name: string; ownerId: string } },
  request: RequestInfo,
  e: Env,
): Promise<VmJob | null> {
  const operation = OPERATION_OF_KIND[job.kind];
  const message = `Cancelled by ${actor.email} before it started.`;
  const moved = await db.vmJob.updateMany({
    where: { id: job.id, state: "QUEUED" },
    data: {
      state: "CANCELLED",
      finishedAt: new Date(),
      message,
      step: "Cancelled",
      cancelRequestedAt: new Date(),
      cancelRequestedById: actor.id,
      cancelRequestedByEmail: actor.email,
    },
  });
  if (moved.count === 0) return null;
  // Nothing ran: a create leaves nothing on the host, any other job leaves the VM as Vagrant reports it.
  const observed = job.kind === "CREATE" ? { state: "DESTROYED" as const, error: null } : await observeVm(job.vmId, null, e, { rechecks: 0 });
  await settleVm(db, job.vmId, { state: observed.state, error: observed.error }, e);
  await recordEvent(db, {
    type: "vm",
    action: `vm.${operation}.cancelled`,
    message:
      job.kind === "CREATE"
        ? `${actor.email} cancelled the create of ${job.vm.name} before it started; nothing was made and the VM is gone.`
        : `${actor.email} cancelled the ${operation} of ${job.vm.name} before it started; the VM is ${observed.state.toLowerCase()}.`,
    actorId: actor.id,
    actorEmail: actor.email,
    targetUserId: job.vm.ownerId,
    targetVmId: job.vmId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { jobId: job.id, kind: job.kind, stage: "queued", state: observed.state },
  });
  wakeJobRunner();
  return db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
}

async function markRunningJobCancelled(
  db: Db,
  actor: Actor,
  job: VmJob,
  vm: { id: string; name: string; ownerId: string },
  request: RequestInfo,
): Promise<VmJob> {
  const operation = OPERATION_OF_KIND[job.kind];
  const marked = await db.vmJob.updateMany({
    where: { id: job.id, state: "RUNNING", cancelRequestedAt: null },
    data: { cancelRequestedAt: new Date(), cancelRequestedById: actor.id, cancelRequestedByEmail: actor.email },
  });
  if (marked.count === 1) {
    await recordEvent(db, {
      type: "vm",
      // A destroy that interrupts a start, stop or restart is a destroy request like any other (the feed and the correlation rules count it).
      action: job.kind === "CREATE" ? "vm.create.cancel-requested" : "vm.destroy.requested",
      message:
        job.kind === "CREATE"
          ? `${actor.email} asked to cancel the running create of ${vm.name}.`
          : `${actor.email} asked to destroy ${vm.name}; its running ${operation} is being ended.`,
      actorId: actor.id,
      actorEmail: actor.email,
      targetUserId: vm.ownerId,
      targetVmId: vm.id,
      sourceIp: request.sourceIp,
      userAgent: request.userAgent,
      details: { jobId: job.id, kind: job.kind, stage: "running" },
    });
  }
  // The runner holding it sees the mark at its next pass; in this process, now.
  wakeJobRunner();
  return db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
}

/**
 * Destroy, from any state: the usual destroy job for a VM at rest; while a job
 * is queued, that job is dropped (a queued create takes the VM with it, any
 * other is replaced by the destroy); while a job runs, its Vagrant process is
 * ended and the VM destroyed after it; a VM already being destroyed keeps that.
 */
export async function requestDestroy(
  db: Db,
  actor: Actor,
  vmId: string,
  confirmName: string,
  request: RequestInfo = NO_REQUEST,
  e: Env = env(),
): Promise<VmJob> {
  const vm = await loadVisibleVm(db, actor, vmId);
  if (!canActOnVm(actor, vm)) throw forbidden("You cannot act on this VM.");
  if (confirmName !== vm.name) throw new DomainError("BAD_REQUEST", `Type the VM's name (${vm.name}) to confirm that it should be destroyed.`);
  if (!BUSY_STATES.includes(vm.state) || vm.state === "DESTROYING") {
    const active =
      vm.state === "DESTROYING" ? await db.vmJob.findFirst({ where: { vmId, state: { in: ["QUEUED", "RUNNING"] } }, orderBy: { createdAt: "desc" } }) : null;
    if (active) return active;
    return requestVmOperation(db, actor, vmId, "destroy", { confirmName }, request, e);
  }
  const job = await db.vmJob.findFirst({ where: { vmId, state: { in: ["QUEUED", "RUNNING"] } }, orderBy: { createdAt: "desc" } });
  if (!job) throw conflict(`${vm.name} is ${vm.state.toLowerCase()} with no job in progress; try again in a few seconds.`);
  const withVm = { ...job, vm };
  if (job.state === "QUEUED") {
    if (job.kind === "CREATE") {
      const cancelled = await cancelQueuedJob(db, actor, withVm, request, e);
      if (cancelled) return cancelled;
    } else {
      const replaced = await replaceQueuedJobWithDestroy(db, actor, withVm, request);
      if (replaced) return replaced;
    }
  }
  const running = await db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
  if (running.state !== "RUNNING") return requestDestroy(db, actor, vmId, confirmName, request, e);
  return markRunningJobCancelled(db, actor, running, vm, request);
}

/** One transaction: the queued job is cancelled and a destroy takes its place. Null when a runner claimed it first. */
async function replaceQueuedJobWithDestroy(db: Db, actor: Actor, job: VmJob & { vm: { id: string; name: string; ownerId: string } }, request: RequestInfo) {
  const operation = OPERATION_OF_KIND[job.kind];
  const destroy = await db.$transaction(async (tx) => {
    const moved = await tx.vmJob.updateMany({
      where: { id: job.id, state: "QUEUED" },
      data: {
        state: "CANCELLED",
        finishedAt: new Date(),
        step: "Cancelled",
        message: `Cancelled by ${actor.email} before it started: the VM is being destroyed.`,
        cancelRequestedAt: new Date(),
        cancelRequestedById: actor.id,
        cancelRequestedByEmail: actor.email,
      },
    });
    if (moved.count === 0) return null;
    await tx.vm.update({ where: { id: job.vmId }, data: { state: OPERATIONS.destroy.during, error: null, errorOutput: null } });
    return tx.vmJob.create({ data: { vmId: job.vmId, kind: "DESTROY", requestedById: actor.id, requestedByEmail: actor.email } });
  });
  if (!destroy) return null;
  await recordEvent(db, {
    type: "vm",
    action: "vm.destroy.requested",
    message: `${actor.email} asked to destroy ${job.vm.name}; the queued ${operation} was cancelled.`,
    actorId: actor.id,
    actorEmail: actor.email,
    targetUserId: job.vm.ownerId,
    targetVmId: job.vmId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { jobId: destroy.id, kind: "DESTROY", cancelledJobId: job.id, cancelledKind: job.kind },
  });
  wakeJobRunner();
  return destroy;
}

/** What the runner's job output offers the cancel (runner.ts's JobOutput). */
export interface CancelledJobOutput {
  line(raw: string, stream: "stdout" | "stderr"): void;
  note(text: string): void;
  flush(extra?: Partial<VmJob>): Promise<void>;
}

/**
 * The runner's side, once a cancelled job's Vagrant process has ended:
 * `vagrant destroy -f` removes what it made (the domain and its volume, for a
 * create; the VM, when a destroy interrupted a start, stop or restart), and the
 * VM is settled from what Vagrant then reports. A destroy that fails leaves the
 * VM in ERROR saying so (the destroy button retries it).
 */
export async function finishCancelledJob(db: Db, jobId: string, out: CancelledJobOutput, destroyTimeoutMs: number, e: Env = env()): Promise<void> {
  const job = await db.vmJob.findUniqueOrThrow({ where: { id: jobId }, include: { vm: { select: { name: true, ownerId: true } } } });
  const operation = OPERATION_OF_KIND[job.kind];
  const who = job.cancelRequestedByEmail ?? "system";
  out.note(`Cancelled by ${who}: the Vagrant process was ended`);
  let failure: string | null = null;
  try {
    if (existsSync(vmFolder(job.vmId, e))) {
      out.note(job.kind === "CREATE" ? "Destroying what the create made" : "Destroying the VM");
      const result = await runVagrant(
        { args: ["destroy", "-f", "--machine-readable"], cwd: vmFolder(job.vmId, e), timeoutMs: destroyTimeoutMs, onLine: (l, s) => out.line(l, s) },
        e,
      );
      const outcome = commandOutcome(result);
      if (!outcome.ok) failure = outcome.error ?? `vagrant destroy exited with ${result.exitCode}`;
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  out.note("Reading the VM's state");
  await out.flush();
  const observed = await observeVm(job.vmId, "destroy", e, { rechecks: 0 });
  const gone = observed.state === "DESTROYED";
  const error = gone ? null : `The ${operation} was cancelled but the VM could not be destroyed: ${failure ?? observed.error ?? "Vagrant still reports it"}.`;
  await settleVm(db, job.vmId, { state: gone ? "DESTROYED" : "ERROR", error }, e);
  const message = gone
    ? `Cancelled by ${who}: the Vagrant process was ended and what it made was destroyed; the VM is gone.`
    : `Cancelled by ${who}: the Vagrant process was ended. ${error}`;
  out.note(gone ? "Cancelled" : "Cancelled; the VM could not be destroyed");
  await out.flush({ state: "CANCELLED", finishedAt: new Date(), message });
  await recordEvent(db, {
    type: "vm",
    // A destroy that interrupted a start, stop or restart ends like any destroy in the feed.
    action: job.kind === "CREATE" ? "vm.create.cancelled" : "vm.destroy",
    severity: gone ? "INFO" : "WARNING",
    message: `${job.vm.name}: the running ${operation} was cancelled (${who}). ${message}`,
    actorId: job.cancelRequestedById,
    actorEmail: job.cancelRequestedByEmail,
    targetUserId: job.vm.ownerId,
    targetVmId: job.vmId,
    details: { jobId: job.id, kind: job.kind, stage: "running", outcome: "cancelled", state: observed.state },
  });
}
