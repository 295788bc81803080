// What the admin console calls: act on any VM, stop everything, grant credits,
// set quotas. Each function checks isAdmin itself, so no caller can skip it.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { conflict } from "../errors";
import { recordEvent } from "../events/record";
import { assertAdmin, type Actor } from "../permissions";
import { assertHostReady } from "./host-gate";
import { enqueueOperation, loadVisibleVm } from "./lifecycle";
import { requestDestroy } from "./cancel";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { setUserQuota, type Quota } from "./quotas";
import { refusalReason } from "./transitions";

export async function adminStopVm(db: Db, admin: Actor, vmId: string, request: RequestInfo = NO_REQUEST) {
  assertAdmin(admin);
  const vm = await loadVisibleVm(db, admin, vmId);
  return enqueueOperation(db, admin, vm, "stop", request);
}

/** Starts a VM for its owner; the owner's running quota and credits still apply (enqueueOperation claims them for the owner). */
export async function adminStartVm(db: Db, admin: Actor, vmId: string, request: RequestInfo = NO_REQUEST) {
  assertAdmin(admin);
  const vm = await loadVisibleVm(db, admin, vmId);
  const reason = refusalReason("start", vm.state, vm.name);
  if (reason) throw conflict(reason);
  return enqueueOperation(db, admin, vm, "start", request);
}

/** Destroys any VM. The console is expected to have asked for confirmation. */
export async function adminDestroyVm(db: Db, admin: Actor, vmId: string, request: RequestInfo = NO_REQUEST) {
  assertAdmin(admin);
  const vm = await loadVisibleVm(db, admin, vmId);
  // The same destroy as the owner's: it works in every state (a queued job is dropped, a running one ended).
  return requestDestroy(db, admin, vm.id, vm.name, request);
}

/** Asks every running VM to stop (VMs busy with another operation are skipped). */
export async function stopAllRunningVms(
  db: Db,
  admin: Actor,
  reason: string,
  request: RequestInfo = NO_REQUEST,
  e: Env = env(),
): Promise<{ requested: string[]; skipped: string[] }> {
  assertAdmin(admin);
  // Said once, up front, rather than as every VM skipped.
  await assertHostReady(db, e);
  const running = await db.vm.findMany({ where: { state: "RUNNING" }, select: { id: true, name: true, ownerId: true } });
  const requested: string[] = [];
  const skipped: string[] = [];
  for (const vm of running) {
    try {
      await enqueueOperation(db, admin, vm, "stop", request, e);
      requested.push(vm.id);
    } catch {
      skipped.push(vm.id); // it changed state meanwhile
    }
  }
  await recordEvent(db, {
    type: "admin",
    action: "vm.stop_all",
    severity: "WARNING",
    message: `${admin.email} stopped all running VMs (${requested.length})${reason ? `: ${reason}` : ""}.`,
    actorId: admin.id,
    actorEmail: admin.email,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { requested, skipped, reason },
  });
  return { requested, skipped };
}

export async function adminSetUserQuota(
  db: Db,
  admin: Actor,
  userId: string,
  overrides: Partial<Record<keyof Quota, number | null>>,
  request: RequestInfo = NO_REQUEST,
): Promise<Quota> {
  assertAdmin(admin);
  const quota = await setUserQuota(db, userId, overrides);
  await recordEvent(db, {
    type: "admin",
    action: "quota.set",
    message: `${admin.email} changed the quota of user ${userId}.`,
    actorId: admin.id,
    actorEmail: admin.email,
    targetUserId: userId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { overrides, quota },
  });
  return quota;
}
