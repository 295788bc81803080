// The job runner: takes QUEUED jobs from the database and runs them, several
// VMs in parallel up to VM_MAX_PARALLEL_JOBS. One VM never has two jobs at once
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
import { observeVm, settleVm, type ObserveOptions } from "./reconcile";
import { OPERATION_OF_KIND } from "./transitions";
import { Coalesced } from "../coalesced";
import { failureReason } from "./failure-reason";
import { renderVagrantfile } from "./vagrantfile";
import { setUpGuestAccessAfterBoot } from "../access/guest-access";
import { assignSshPort } from "../access/ssh-ports";
import { ensureVmKey, insecureKeyPath } from "../access/vm-key";
import { ensureOwnerNetwork } from "../network/owner-networks";
import { runVagrant, type VagrantResult } from "./vagrant-cli";

/** Job output kept in the row; beyond it the oldest part is dropped. */
export const MAX_OUTPUT_CHARS = 256 * 1024;
const FLUSH_MS = 300;
const ERROR_TAIL_LINES = 30;

export type JobTimeouts = Record<VmJobKind, number>;

export function jobTimeouts(e: Env = env()): JobTimeouts {
  const up = e.VM_TIMEOUT_UP_S * 1000;
  const halt = e.VM_TIMEOUT_HALT_S * 1000;
  return { CREATE: up, START: up, STOP: halt, RESTART: halt + up, DESTROY: e.VM_TIMEOUT_DESTROY_S * 1000 };
}

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

  async flush(extra: Partial<VmJob> = {}): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const data = { output: this.text, step: this.progress.step, progress: this.progress.progress, ...extra };
    // Writes are chained so a late timer flush never overwrites the final one.
    this.writing = this.writing
      .then(() => this.db.vmJob.update({ where: { id: this.jobId }, data }))
      .catch((err) => console.error("[vms] could not save job output:", err));
    await this.writing;
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
  observe?: ObserveOptions;
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
  const signal = AbortSignal.any([ctx.signal, silence.signal]);
  const run = (args: string[], timeoutMs: number) => runVagrant({ args, cwd: vmFolder(job.vmId, e), timeoutMs, signal, onLine: (l, s) => out.line(l, s) }, e);
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

  // Whatever happened, the VM's row follows what Vagrant now reports.
  out.note("Reading the VM's state");
  await out.flush();
  // A silent guest will not get an address by waiting: no "inaccessible" re-checks.
  const observed = await observeVm(job.vmId, operation, e, silentGuest !== null ? { ...ctx.observe, rechecks: 0 } : ctx.observe);
  let ok = failure === null;
  const booted = ok && observed.state === "RUNNING" && (job.kind === "CREATE" || job.kind === "START" || job.kind === "RESTART");
  const vmError = observed.state === "ERROR" ? (failure ?? observed.error) : failure;
  await settleVm(db, job.vmId, { state: observed.state, error: vmError, errorOutput: failure ? out.tail() : null, booted }, e);
  if (booted) {
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

  const state = timedOut ? "TIMED_OUT" : result?.aborted && silentGuest === null ? "INTERRUPTED" : ok ? "SUCCEEDED" : "FAILED";
  const message = ok ? (note ?? `${operation} finished; the VM is ${observed.state.toLowerCase()}.`) : `${failure} The VM is ${observed.state.toLowerCase()}.`;
  out.note(ok ? "Done" : state === "TIMED_OUT" ? "Timed out" : "Failed");
  await out.flush({ state, exitCode: result?.exitCode ?? null, finishedAt: new Date(), message, ...(ok ? { progress: 100 } : {}) });

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
}

export interface RunnerOptions {
  maxParallel?: number;
  /** How often to look for jobs queued by other processes. */
  pollMs?: number;
  timeouts?: Partial<JobTimeouts>;
  env?: Env;
  /** How Vagrant's "inaccessible" is re-checked after a job (tests shorten it). */
  observe?: ObserveOptions;
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
  private readonly max: number;
  private readonly timeouts: JobTimeouts;
  private readonly pollMs: number;
  private readonly observe: ObserveOptions | undefined;

  constructor(
    private readonly db: Db,
    options: RunnerOptions = {},
  ) {
    this.e = options.env ?? env();
    this.max = options.maxParallel ?? this.e.VM_MAX_PARALLEL_JOBS;
    this.timeouts = { ...jobTimeouts(this.e), ...options.timeouts };
    this.pollMs = options.pollMs ?? 1000;
    this.observe = options.observe;
  }

  start(): this {
    startedRunners.add(this);
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    this.wake();
    return this;
  }

  wake(): void {
    if (this.stopped) return;
    void this.pumping.request();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.stopped && this.inFlight.size < this.max) {
        const next = await this.db.vmJob.findFirst({ where: { state: "QUEUED", id: { notIn: [...this.inFlight.keys()] } }, orderBy: { createdAt: "asc" } });
        if (!next) return;
        const claimed = await this.db.vmJob.updateMany({ where: { id: next.id, state: "QUEUED" }, data: { state: "RUNNING", startedAt: new Date() } });
        if (claimed.count === 0) continue; // another runner took it
        const running = executeJob(
          { ...next, state: "RUNNING" },
          { db: this.db, e: this.e, timeouts: this.timeouts, signal: this.abort.signal, observe: this.observe },
        )
          .catch((err) => console.error(`[vms] job ${next.id} crashed:`, err))
          .finally(() => {
            this.inFlight.delete(next.id);
            this.wake();
          });
        this.inFlight.set(next.id, running);
      }
    } catch (err) {
      console.error("[vms] job runner could not read the queue:", err);
    }
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

  /** Stops taking jobs; running vagrant processes are killed and their jobs end INTERRUPTED and reconciled. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await this.pumping.settled();
    await Promise.allSettled([...this.inFlight.values()]);
    startedRunners.delete(this);
  }
}
