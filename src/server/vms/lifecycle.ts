// Launching VMs and asking for operations on them. Each request checks the
// permission rule, the state table and (for launches, starts and restarts) the
// quotas and credits through the owner's quota claim (quotas.ts), then queues a
// job; the job runner does the work.
import { ZodError } from "zod";
import type { Vm, VmJob } from "~/generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import type { Tx } from "../db/retry";
import { env, type Env } from "../env";
import { conflict, DomainError, forbidden, isUniqueViolation, notFound } from "../errors";
import { recordEvent } from "../events/record";
import { vmDriver } from "../hypervisor/driver";
import { canActOnVm, canViewVm, type Actor } from "../permissions";
import { assertHostReady } from "./host-gate";
import { withQuotaClaim, type Claim } from "./quotas";
import { wakeJobRunner } from "./runner";
import { checkBoxMinimums, createVmInputSchema, specLimits } from "./spec";
import { OPERATIONS, refusalReason, type VmOperation } from "./transitions";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { assignSshPort } from "../access/ssh-ports";
import { allocateOwnerNetwork, releaseOwnerNetworkIfUnused } from "../network/owner-networks";

/** Who asked: a person, or the system itself (metering, admin bulk actions name the admin). */
export type Requester = Actor | { id: null; email: "system" };
export const SYSTEM: Requester = { id: null, email: "system" };

/** Loads a VM the actor may see; someone else's VM looks like a missing one. */
export async function loadVisibleVm(db: Db, actor: Actor | null, vmId: string): Promise<Vm> {
  const vm = await db.vm.findUnique({ where: { id: vmId } });
  if (!vm || !canViewVm(actor, vm)) throw notFound("VM");
  return vm;
}

export async function createVm(db: Db, actor: Actor, rawInput: unknown, request: RequestInfo = NO_REQUEST, e: Env = env()): Promise<{ vm: Vm; job: VmJob }> {
  let input;
  try {
    input = createVmInputSchema(specLimits(e)).parse(rawInput);
  } catch (err) {
    if (err instanceof ZodError) throw new DomainError("BAD_REQUEST", err.issues.map((i) => i.message).join(" "));
    throw err;
  }
  await assertHostReady(db, e);
  const box = await db.box.findUnique({ where: { id: input.boxId } });
  if (!box?.enabled) throw new DomainError("BAD_REQUEST", "That box is not in the catalog.");
  checkBoxMinimums(input, box);
  const driver = (await vmDriver(e)).driver;
  const duplicateName = conflict(`You already have a VM named ${input.name}. Pick another name.`);
  // The claim inserts the VM as PENDING, which counts from that moment.
  const vm = await withQuotaClaim(
    db,
    actor.id,
    { kind: "launch", spec: input },
    async (tx) => {
      // Checked first so the usual case commits rather than rolling back; the unique index still decides a race.
      if (await tx.vm.findFirst({ where: { ownerId: actor.id, activeName: input.name }, select: { id: true } })) return null;
      try {
        return await tx.vm.create({
          data: {
            name: input.name,
            activeName: input.name,
            ownerId: actor.id,
            boxId: box.id,
            cpus: input.cpus,
            ramMb: input.ramMb,
            diskGb: input.diskGb,
            driver,
            state: "PENDING",
          },
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw duplicateName;
        throw err;
      }
    },
    e,
  );
  if (!vm) throw duplicateName;
  // The owner's network (their first VM takes a /24 from the pool) and the VM's
  // forwarded SSH port, for its whole life; with none left the launch is refused
  // here, not in the job, and leaves nothing behind.
  try {
    await allocateOwnerNetwork(db, actor.id, e);
    await assignSshPort(db, vm.id, e);
  } catch (err) {
    await db.vm.delete({ where: { id: vm.id } });
    await releaseOwnerNetworkIfUnused(db, actor.id, e);
    throw err;
  }
  const job = await enqueueOperation(db, actor, vm, "create", request, e);
  return { vm, job };
}

/** Asks for start, stop, restart or destroy. Destroy needs the VM's name typed back. */
export async function requestVmOperation(
  db: Db,
  actor: Actor,
  vmId: string,
  operation: Exclude<VmOperation, "create">,
  options: { confirmName?: string } = {},
  request: RequestInfo = NO_REQUEST,
  e: Env = env(),
): Promise<VmJob> {
  const vm = await loadVisibleVm(db, actor, vmId);
  if (!canActOnVm(actor, vm)) throw forbidden("You cannot act on this VM.");
  if (operation === "destroy" && options.confirmName !== vm.name)
    throw new DomainError("BAD_REQUEST", `Type the VM's name (${vm.name}) to confirm that it should be destroyed.`);
  if (operation === "start") {
    // A quick answer without a claim; inside the claim the state's compare-and-set decides a race.
    const reason = refusalReason("start", vm.state, vm.name);
    if (reason) throw conflict(reason);
  }
  return enqueueOperation(db, actor, vm, operation, request, e);
}

/**
 * The claim an operation must win: a start or restart makes the VM count
 * (quotas, credits); a create was claimed when its VM was inserted, and stop
 * and destroy only free resources.
 */
function claimOf(operation: VmOperation, vmId: string): Claim | null {
  if (operation === "start" || operation === "restart") return { kind: operation, vmId };
  return null;
}

/**
 * Moves the VM into the operation's busy state and queues the job, in one
 * transaction (for a start or restart, the owner's quota claim). The state
 * change is a compare-and-set on the allowed states, so of two simultaneous
 * requests exactly one wins; the other gets CONFLICT.
 */
export async function enqueueOperation(
  db: Db,
  requester: Requester,
  vm: Pick<Vm, "id" | "name" | "ownerId">,
  operation: VmOperation,
  request: RequestInfo = NO_REQUEST,
  e: Env = env(),
): Promise<VmJob> {
  // Refused before the state moves: a job queued on a host that cannot run it would only fail.
  await assertHostReady(db, e);
  const rule = OPERATIONS[operation];
  const move = async (tx: Tx) => {
    const moved = await tx.vm.updateMany({ where: { id: vm.id, state: { in: [...rule.from] } }, data: { state: rule.during, error: null, errorOutput: null } });
    if (moved.count === 0) return null;
    return tx.vmJob.create({ data: { vmId: vm.id, kind: rule.kind, requestedById: requester.id, requestedByEmail: requester.email } });
  };
  const claim = claimOf(operation, vm.id);
  const job = claim ? await withQuotaClaim(db, vm.ownerId, claim, move, e) : await db.$transaction(move);
  if (!job) {
    const current = await db.vm.findUnique({ where: { id: vm.id }, select: { state: true } });
    throw conflict(refusalReason(operation, current?.state ?? "DESTROYED", vm.name) ?? `${vm.name} changed state; try again.`);
  }
  await recordEvent(db, {
    type: "vm",
    action: `vm.${operation}.requested`,
    message: `${requester.email} asked to ${rule.verb} ${vm.name}.`,
    actorId: requester.id,
    actorEmail: requester.email,
    targetUserId: vm.ownerId,
    targetVmId: vm.id,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { jobId: job.id, kind: job.kind },
  });
  wakeJobRunner();
  return job;
}
