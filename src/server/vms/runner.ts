// The job runner: takes QUEUED jobs from the database and runs them, several
// VMs in parallel as job-queue.ts allows (its lanes and limits). One VM never has two jobs at once
// (enqueueing flips the VM into a busy state with a compare-and-set, see
// lifecycle.ts). Output is written into the job row as it arrives, with the
// current step and a progress estimate; every job ends with a reconciliation
// from `vagrant status` and an Event.
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { VmJob, VmJobKind } from "~/generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { recordEvent } from "../events/record";
import type { VmDriver } from "../hypervisor/driver";
import { commandOutcome, humanText, parseMachineReadableLine } from "./machine-readable";
import { libvirtDomainName, vmFolder } from "../folders";
import { watchForSilentGuest } from "../hypervisor/guest-traffic";
import { advanceProgress, type Progress } from "./progress";
import { observeVm, recoverJob, settleVm, type ObserveOptions } from "./reconcile";
import { OPERATION_OF_KIND } from "./transitions";
import { Coalesced } from "../coalesced";
import { failureReason } from "./failure-reason";
import { renderVagrantfile } from "./vagrantfile";
import { setUpGuestAccessAfterBoot } from "../access/guest-access";
import { assignSshPort } from "../access/ssh-ports";
import { ensureVmKey, insecureKeyPath } from "../access/vm-key";
import { ensureOwnerNetwork } from "../network/owner-networks";
import { runVagrant, type VagrantResult } from "./vagrant-cli";
import { jobsToClaim, laneLimits, type LaneLimits } from "./job-queue";
import { finishCancelledJob } from "./cancel";
import { jobTimeouts, type JobTimeouts } from "./job-timeouts";
import { dbErrorText, retryDb, type RetryOptions } from "../db/retry";
import { claimAbandonedJobs, JobLeaseHeartbeat, jobLeaseMs, leaseFields, newJobLeaseOwner, retireJobLeaseOwner } from "./job-lease";
import { jobOutputFile, recordVagrantProcess } from "./orphans";

/** Job output kept in the row; beyond it the oldest part is dropped. */
export const MAX_OUTPUT_CHARS = 256 * 1024;
const FLUSH_MS = 300;
const ERROR_TAIL_LINES = 30;

export { jobTimeouts, type JobTimeouts } from "./job-timeouts";

/** Accumulates a job's output and writes it, with step and progress, at most every FLUSH_MS. */
class JobOutput {
  private text = "";
  private progress: Progress = { step: null, progress: 0 };
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly jobId: string,
    private readonly kind: VmJobKind,
  ) {}

  line(raw: string, stream: "stdout" | "stderr"): void {
    const record = stream === "stdout" ? parseMachineReadableLine(raw) : null;
    if (record) {
      this.progress = advanceProgress(this.kind, this.progress, record);
      const text = humanText(record);
      if (text !== null) this.append(text);
    } else if (raw.trim() !== "") this.append(raw);
  }

  note(text: string): void {
    this.append(`[twarga] ${text}`);
    this.progress = { ...this.progress, step: text };
  }

  private append(text: string): void {
    this.text += `${text}\n`;
    if (this.text.length > MAX_OUTPUT_CHARS) this.text = `[earlier output dropped]\n${this.text.slice(-MAX_OUTPUT_CHARS)}`;
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** With `retry`, a write that fails transiently is tried again, and a failure that outlasts the retries is thrown. */
  async flush(extra: Partial<VmJob> = {}, retry?: RetryOptions): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const data = { output: this.text, step: this.progress.step, progress: this.progress.progress, ...extra };
    const write = () => this.db.vmJob.update({ where: { id: this.jobId }, data });
    // Writes are chained so a late timer flush never overwrites the final one.
    const attempt = this.writing.then(() => (retry ? retryDb("saving the job", write, retry) : write()));
    this.writing = attempt.catch((err) => console.error("[vms] could not save job output:", err));
    await (retry ? attempt : this.writing);
  }

  tail(): string {
    return this.text.trimEnd().split("\n").slice(-ERROR_TAIL_LINES).join("\n");
  }
}

const UP_ARGS = ["up", "--provider=libvirt", "--machine-readable"];

/**
 * Writes the VM's folder and Vagrantfile from its database row (never from raw
 * user text), with the VM's own key (and Vagrant's insecure key until the guest
 * has been moved off it) and, for a VM created on its owner's network, that
 * network made ready in libvirt. A VM from before per-owner networks keeps the
 * shared one: its domain's interface is fixed when it is created.
 */
async function writeVagrantfile(db: Db, vmId: string, e: Env, note: (text: string) => void): Promise<void> {
  const vm = await db.vm.findUniqueOrThrow({ where: { id: vmId }, include: { box: true } });
  const folder = vmFolder(vm.id, e);
  await mkdir(folder, { recursive: true });
  const driver: VmDriver = vm.driver === "kvm" ? "kvm" : "qemu";
  const key = await ensureVmKey(vm.id, e);
  let network: { name: string; cidr: string } | null = null;
  if (vm.state === "CREATING" || vm.networkName !== null) {
    network = await ensureOwnerNetwork(db, vm.ownerId, e);
    if (vm.networkName !== network.name) await db.vm.update({ where: { id: vm.id }, data: { networkName: network.name } });
  }
  if (vm.hostSshPort === null)
    await assignSshPort(db, vm.id, e).catch((err: unknown) => note(`No forwarded SSH port: ${err instanceof Error ? err.message : String(err)}`));
  const sshPrivateKeyPaths = vm.keysSyncedAt ? [key.privateKey] : [key.privateKey, insecureKeyPath(e)];
  const spec = { vmId: vm.id, boxName: vm.box.name, osFamily: vm.box.osFamily, hostname: vm.name, cpus: vm.cpus, ramMb: vm.ramMb, diskGb: vm.diskGb, driver };
  await writeFile(path.join(folder, "Vagrantfile"), renderVagrantfile({ ...spec, libvirtUri: e.LIBVIRT_URI, sshPrivateKeyPaths, network }));
}

interface RunContext {
  db: Db;
  e: Env;
  timeouts: JobTimeouts;
  signal: AbortSignal;
  /** Aborted when someone cancels this job (cancel.ts): its Vagrant process is ended and cancel.ts finishes the job. */
  cancel?: AbortSignal;
  observe?: ObserveOptions;
  /** How database writes after the Vagrant command are retried (tests shorten it). */
  retry?: RetryOptions;
}

/** Runs one claimed job to its end. Never throws: failures end the job as FAILED. */
export async function executeJob(job: VmJob, ctx: RunContext): Promise<void> {
  const { db, e } = ctx;
  const operation = OPERATION_OF_KIND[job.kind];
  const out = new JobOutput(db, job.id, job.kind);
  const limitMs = ctx.timeouts[job.kind];
  // A boot whose guest never sends a packet is given up on long before the limit (see guest-traffic.ts).
  const silence = new AbortController();
  let silentGuest: string | null = null;
  const signal = AbortSignal.any([ctx.signal, silence.signal, ...(ctx.cancel ? [ctx.cancel] : [])]);
  // Output to files and the PID recorded: a Vagrant that outlives a crash of the app is waited for by whoever recovers the job (orphans.ts).
  let recording: Promise<void> = Promise.resolve();
  const run = (args: string[], timeoutMs: number) =>
    runVagrant(
      {
        args,
        cwd: vmFolder(job.vmId, e),
        timeoutMs,
        signal,
        onLine: (l, s) => out.line(l, s),
        outputFile: jobOutputFile(job.vmId, e),
        onSpawn: (pid) => (recording = recording.then(() => recordVagrantProcess(db, job.id, pid))),
      },
      e,
    ).finally(() => recording);
  const boot = async (args: string[]) => {
    const stopWatching = watchForSilentGuest(
      {
        domain: libvirtDomainName(job.vmId),
        silentAfterMs: e.VM_SILENT_GUEST_S * 1000,
        onSilent: (message) => {
          silentGuest = message;
          out.note("The guest has sent no network traffic: stopping the boot");
          silence.abort();
        },
      },
      e,
    );
    try {
      return await run(args, limitMs);
    } finally {
      stopWatching();
    }
  };
  let result: VagrantResult | null = null;
  let failure: string | null = null;
  let timedOut = false;
  let note: string | null = null;
  try {
    switch (job.kind) {
      case "CREATE":
      case "START":
        out.note(job.kind === "CREATE" ? "Writing the Vagrantfile" : "Starting");
        await writeVagrantfile(db, job.vmId, e, (t) => out.note(t));
        result = await boot(UP_ARGS);
        break;
      case "RESTART":
        await writeVagrantfile(db, job.vmId, e, (t) => out.note(t));
        result = await boot(["reload", "--no-provision", "--machine-readable"]);
        break;
      case "STOP":
        result = await run(["halt", "--machine-readable"], limitMs);
        if (result.timedOut && !result.aborted) {
          note = `The guest did not shut down within ${Math.round(limitMs / 1000)} s; it was powered off.`;
          out.note(`Graceful shutdown timed out after ${Math.round(limitMs / 1000)} s: forcing power-off`);
          result = await run(["halt", "--force", "--machine-readable"], limitMs);
        }
        break;
      case "DESTROY":
        // A VM whose folder never got written (or was removed by hand) has nothing for vagrant to destroy.
        if (existsSync(vmFolder(job.vmId, e))) result = await run(["destroy", "-f", "--machine-readable"], limitMs);
        else out.note("The VM's folder does not exist; nothing to destroy on the host");
        break;
    }
    if (result) {
      timedOut = result.timedOut;
      const outcome = commandOutcome(result);
      if (silentGuest !== null) failure = silentGuest;
      else if (result.timedOut) failure = failureReason({ ...result, limitMs }).message;
      else if (result.aborted) failure = "The app is shutting down; the operation was stopped.";
      else if (!outcome.ok) failure = failureReason(result).message;
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    out.note(`Failed: ${failure}`);
  }
  if (ctx.cancel?.aborted) return finishCancelledJob(db, job.id, out, ctx.timeouts.DESTROY, e);

  // Whatever happened, the VM's row follows what Vagrant now reports. Every step from here is in the job's failure
  // path: a database error is retried with backoff, and one that outlasts the retries fails the job with a message.
  out.note("Reading the VM's state");
  await out.flush();
  // A silent guest will not get an address by waiting, nor a boot stopped for shutdown: no "inaccessible" re-checks.
  const observed = await observeVm(job.vmId, operation, e, silentGuest !== null || result?.aborted ? { ...ctx.observe, rechecks: 0 } : ctx.observe);
  let ok = failure === null;
  const booted = ok && observed.state === "RUNNING" && (job.kind === "CREATE" || job.kind === "START" || job.kind === "RESTART");
  const vmError = observed.state === "ERROR" ? (failure ?? observed.error) : failure;
  try {
    await retryDb(
      "saving the VM's state",
      () => settleVm(db, job.vmId, { state: observed.state, error: vmError, errorOutput: failure ? out.tail() : null, booted }, e),
      ctx.retry,
    );
  } catch (err) {
    failure = `The VM's new state could not be saved (${dbErrorText(err)}).`;
    ok = false;
    out.note(`Failed: ${failure}`);
  }
  if (booted && ok) {
    // The VM runs either way; a job whose guest could not be secured does not end as a success.
    out.note("Setting up SSH access in the guest");
    try {
      out.note(
        await setUpGuestAccessAfterBoot(db, job.vmId, job.kind as "CREATE" | "START" | "RESTART", { id: job.requestedById, email: job.requestedByEmail }, e),
      );
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
      ok = false;
      out.note(`Failed: ${failure}`);
    }
  }

  // A cancel (or a destroy) asked for after Vagrant's command ended, while the state was read or the guest set up,
  // still wins: its caller was told the job is being cancelled. The runner's watcher may not have seen it yet.
  const lateCancel = await db.vmJob
    .findUnique({ where: { id: job.id }, select: { cancelRequestedAt: true } })
    .then((j) => j?.cancelRequestedAt != null)
    .catch(() => false);
  if (ctx.cancel?.aborted || lateCancel) return finishCancelledJob(db, job.id, out, ctx.timeouts.DESTROY, e);

  const state = timedOut ? "TIMED_OUT" : result?.aborted && silentGuest === null ? "INTERRUPTED" : ok ? "SUCCEEDED" : "FAILED";
  const message = ok ? (note ?? `${operation} finished; the VM is ${observed.state.toLowerCase()}.`) : `${failure} The VM is ${observed.state.toLowerCase()}.`;
  out.note(ok ? "Done" : state === "TIMED_OUT" ? "Timed out" : "Failed");
  try {
    // The job's end is worth waiting for longer than the steps before it.
    const final = { ...ctx.retry, attempts: (ctx.retry?.attempts ?? 6) * 2 };
    await out.flush({ state, exitCode: result?.exitCode ?? null, finishedAt: new Date(), message, ...(ok ? { progress: 100 } : {}) }, final);
  } catch (err) {
    // Still RUNNING in the database: once this runner stops renewing its lease, the next sweep recovers it (reconcile.ts).
    console.error(`[vms] job ${job.id}: could not record its end, left to the lease recovery:`, err);
    return;
  }

  await retryDb(
    "recording the job's event",
    async () => {
      const vm = await db.vm.findUniqueOrThrow({ where: { id: job.vmId }, select: { name: true, ownerId: true } });
      await recordEvent(db, {
        type: "vm",
        action: `vm.${operation}`,
        severity: ok ? "INFO" : "WARNING",
        message:
          `${vm.name}: ${operation} ${ok ? "succeeded" : state === "TIMED_OUT" ? "timed out" : state === "INTERRUPTED" ? "was interrupted" : "failed"} ` +
          `(${job.requestedByEmail ?? "system"}). ${message}`,
        actorId: job.requestedById,
        actorEmail: job.requestedByEmail,
        targetUserId: vm.ownerId,
        targetVmId: job.vmId,
        details: { jobId: job.id, kind: job.kind, outcome: state.toLowerCase(), state: observed.state, exitCode: result?.exitCode ?? null },
      });
    },
    ctx.retry,
  ).catch((err: unknown) => console.error(`[vms] job ${job.id}: could not record its event:`, err));
}

export interface RunnerOptions {
  maxParallel?: number;
  /**
   * How often to look for jobs queued or cancelled by other processes (web-only replicas), default 5 s. This process's
   * own queueing and cancels wake the runner at once (wakeJobRunner); each look is a database query, so an idle host
   * pays for every one.
   */
  pollMs?: number;
  timeouts?: Partial<JobTimeouts>;
  env?: Env;
  /** How Vagrant's "inaccessible" is re-checked after a job (tests shorten it). */
  observe?: ObserveOptions;
  /** A running job's lease (default VM_JOB_LEASE_S); abandoned jobs are looked for this often too. */
  leaseMs?: number;
  /** How database writes after the Vagrant command are retried (tests shorten it). */
  retry?: RetryOptions;
  /** How often a Vagrant process that outlived its app is looked at while a recovery waits for it. */
  orphanPollMs?: number;
}

// On globalThis: the runner starts from the instrumentation hook, jobs are
// queued from route handlers, and Next gives each bundle its own module copy.
const globalForRunners = globalThis as unknown as { twargaJobRunners?: Set<VmJobRunner> };
const startedRunners = (globalForRunners.twargaJobRunners ??= new Set<VmJobRunner>());

/** Tells this process's runner (if any) that a job was queued. */
export function wakeJobRunner(): void {
  for (const runner of startedRunners) runner.wake();
}

export class VmJobRunner {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private readonly pumping = new Coalesced(() => this.pump());
  private stopped = false;
  private readonly e: Env;
  private readonly limits: LaneLimits;
  /** Per running job: aborted when someone cancels it. */
  private readonly cancels = new Map<string, AbortController>();
  private readonly timeouts: JobTimeouts;
  private readonly pollMs: number;
  private readonly observe: ObserveOptions | undefined;
  // Leases (job-lease.ts): every job this runner holds, recovered ones included, is renewed on a heartbeat.
  readonly leaseOwner = newJobLeaseOwner();
  private readonly leaseMs: number;
  private readonly heartbeat: JobLeaseHeartbeat;
  private readonly recovering = new Coalesced(() => this.recoverAbandonedJobs());
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly retry: RetryOptions | undefined;
  private readonly orphanPollMs: number | undefined;

  constructor(
    private readonly db: Db,
    options: RunnerOptions = {},
  ) {
    this.e = options.env ?? env();
    this.limits = laneLimits(this.e, options.maxParallel);
    this.timeouts = { ...jobTimeouts(this.e), ...options.timeouts };
    this.pollMs = options.pollMs ?? 5000;
    this.observe = options.observe;
    this.leaseMs = options.leaseMs ?? jobLeaseMs(this.e);
    this.heartbeat = new JobLeaseHeartbeat(db, this.leaseOwner, this.leaseMs, () => [...this.inFlight.keys()]);
    this.retry = options.retry;
    this.orphanPollMs = options.orphanPollMs;
  }

  start(): this {
    startedRunners.add(this);
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    this.heartbeat.start();
    // Jobs whose runner died (now, at start-up, and whenever a lease runs out later) are taken over and recovered.
    this.sweepTimer = setInterval(() => void this.recovering.request(), this.leaseMs);
    this.sweepTimer.unref();
    void this.recovering.request();
    this.wake();
    return this;
  }

  /** Claims the RUNNING jobs no live runner holds and recovers each as one of this runner's jobs (reconcile.ts). */
  private async recoverAbandonedJobs(): Promise<void> {
    if (this.stopped) return;
    try {
      for (const job of await claimAbandonedJobs(this.db, this.leaseOwner, this.leaseMs)) {
        const recovery = recoverJob(this.db, job, this.e, {
          owner: this.leaseOwner,
          timeouts: this.timeouts,
          signal: this.abort.signal,
          orphanPollMs: this.orphanPollMs,
          observe: this.observe,
          retry: this.retry,
        })
          .catch((err) => console.error(`[vms] recovering job ${job.id} failed:`, err))
          .finally(() => {
            this.inFlight.delete(job.id);
            this.wake();
          });
        this.inFlight.set(job.id, recovery);
      }
    } catch (err) {
      console.error("[vms] job runner could not look for abandoned jobs:", err);
    }
  }

  wake(): void {
    if (this.stopped) return;
    void this.pumping.request();
  }

  private async pump(): Promise<void> {
    try {
      await this.abortCancelledJobs();
      // job-queue.ts picks: a lane each for stopping and starting work, admin moves, round-robin by owner, one first create per box.
      for (let claimedAny = true; claimedAny && !this.stopped;) {
        claimedAny = false;
        for (const { id } of await jobsToClaim(this.db, this.limits)) {
          if (this.stopped || this.inFlight.has(id)) continue;
          const claimed = await this.db.vmJob.updateMany({
            where: { id, state: "QUEUED" },
            data: { state: "RUNNING", startedAt: new Date(), ...leaseFields(this.leaseOwner, this.leaseMs) },
          });
          if (claimed.count === 0) continue; // another runner took it, or it was cancelled
          claimedAny = true;
          const next = await this.db.vmJob.findUniqueOrThrow({ where: { id } });
          const cancel = new AbortController();
          this.cancels.set(id, cancel);
          const running = executeJob(next, {
            db: this.db,
            e: this.e,
            timeouts: this.timeouts,
            signal: this.abort.signal,
            cancel: cancel.signal,
            observe: this.observe,
            retry: this.retry,
          })
            .catch((err) => console.error(`[vms] job ${id} crashed:`, err))
            .finally(() => {
              this.inFlight.delete(id);
              this.cancels.delete(id);
              this.wake();
            });
          this.inFlight.set(id, running);
        }
      }
    } catch (err) {
      console.error("[vms] job runner could not read the queue:", err);
    }
  }

  /** Ends the Vagrant process of each job of this runner that someone asked to cancel (cancel.ts marks the row; any process may). */
  private async abortCancelledJobs(): Promise<void> {
    if (this.cancels.size === 0) return;
    const marked = await this.db.vmJob.findMany({ where: { id: { in: [...this.cancels.keys()] }, cancelRequestedAt: { not: null } }, select: { id: true } });
    for (const { id } of marked) this.cancels.get(id)?.abort();
  }

  /** Resolves once nothing is queued or running (for tests and shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      await this.pumping.settled();
      if (this.inFlight.size > 0) {
        await Promise.allSettled([...this.inFlight.values()]);
        continue;
      }
      const queued = await this.db.vmJob.count({ where: { state: "QUEUED" } });
      if (queued === 0 || this.stopped) return;
      this.wake();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Stops taking jobs. Running jobs get `graceMs` to finish (the shutdown drain, SHUTDOWN_GRACE_S); then their
   * vagrant processes are killed and the jobs end INTERRUPTED and reconciled. Recoveries still waiting for a
   * Vagrant that outlived its app stop waiting and leave it to the next runner.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.pumping.settled();
    await this.recovering.settled();
    if (graceMs > 0 && this.inFlight.size > 0) {
      console.log(`[vms] waiting up to ${Math.round(graceMs / 1000)} s for ${this.inFlight.size} running job(s) to finish`);
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.allSettled([...this.inFlight.values()]).then(() => true),
        new Promise<false>((r) => (timer = setTimeout(() => r(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (!finished) console.log(`[vms] ${this.inFlight.size} job(s) still running after ${Math.round(graceMs / 1000)} s: stopping them`);
    }
    this.abort.abort();
    await Promise.allSettled([...this.inFlight.values()]);
    await this.heartbeat.stop();
    retireJobLeaseOwner(this.leaseOwner);
    startedRunners.delete(this);
  }
}
