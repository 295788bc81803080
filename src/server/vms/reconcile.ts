// Reconciliation: the database follows what Vagrant reports. Runs after every
// operation and, at start-up, for every VM whose job was interrupted (the app
// crashed or restarted mid-operation), so no VM stays CREATING or STOPPING.
import { rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import type { VmState } from "~/generated/prisma/sqlite/enums";
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

/**
 * At start-up: every job still RUNNING belongs to a process that is gone. Mark
 * it interrupted and reconcile its VM; also reconcile any VM left in a busy
 * state without a live job.
 */
export async function recoverInterruptedJobs(db: Db, e: Env = env()): Promise<number> {
  const orphans = await db.vmJob.findMany({ where: { state: "RUNNING" }, include: { vm: { select: { id: true, name: true, ownerId: true } } } });
  const now = new Date();
  for (const job of orphans) {
    const operation = OPERATION_OF_KIND[job.kind];
    const observed = await observeVm(job.vmId, operation, e);
    const message = `Interrupted: the app stopped while this ${operation} ran. Vagrant now reports ${observed.vagrantState ?? "no state"}; the VM is ${observed.state.toLowerCase()}.`;
    await db.vmJob.update({ where: { id: job.id }, data: { state: "INTERRUPTED", finishedAt: now, message } });
    await settleVm(
      db,
      job.vmId,
      {
        state: observed.state,
        error: observed.state === "ERROR" ? (observed.error ?? message) : null,
        booted: observed.state === "RUNNING" && operation !== "stop",
      },
      e,
    );
    await recordEvent(db, {
      type: "vm",
      action: `vm.${operation}`,
      severity: "WARNING",
      message: `${job.vm.name}: ${message}`,
      actorId: job.requestedById,
      actorEmail: job.requestedByEmail,
      targetUserId: job.vm.ownerId,
      targetVmId: job.vmId,
      details: { jobId: job.id, outcome: "interrupted", state: observed.state },
    });
    // A boot that finished without the app: its guest still needs its keys, and password login off.
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
        });
      });
    }
  }
  const stuck = await db.vm.findMany({
    where: { state: { in: [...BUSY_STATES] }, jobs: { none: { state: { in: ["QUEUED", "RUNNING"] } } } },
    select: { id: true, state: true },
  });
  for (const vm of stuck) {
    const observed = await observeVm(vm.id, vm.state === "DESTROYING" ? "destroy" : null, e);
    await settleVm(db, vm.id, { state: observed.state, error: observed.error }, e);
  }
  return orphans.length + stuck.length;
}
