// User management for the admin console. Each change returns its before and
// after values, which the admin router writes to the audit log, and records an
// event the affected user sees in their feed. Every function checks
// canManageUsers itself, so no caller can skip it.
import type { Role } from "../../generated/prisma/sqlite/enums";
import type { Db } from "../db/client";
import { env } from "../env";
import { conflict, DomainError, forbidden, notFound } from "../errors";
import { isListedAdmin } from "../auth/policy";
import { recordEvent } from "../events/record";
import { canManageUsers, type Actor } from "../permissions";
import { adminDestroyVm, adminStopVm } from "../vms/admin-actions";
import { grantCredits } from "./credit-grants";
import { balanceOf } from "../vms/ledger";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import type { Tx } from "../db/retry";

export interface Change<T> {
  targetType: "User";
  targetId: string;
  before: T;
  after: T;
}

function requireManager(actor: Actor) {
  if (!canManageUsers(actor)) throw forbidden("Admins only.");
}

const USER_ROW = { id: true, email: true, name: true, role: true, disabled: true, lastSignInAt: true, createdAt: true } as const;

/** Users matching `q` (email or name), with balance and VM counts, for the console. */
export async function searchUsers(db: Db, actor: Actor, q?: string, take = 200) {
  requireManager(actor);
  const term = q?.trim();
  const users = await db.user.findMany({
    where: term ? { OR: [{ email: { contains: term.toLowerCase() } }, { name: { contains: term } }, { id: term }] } : {},
    orderBy: { createdAt: "asc" },
    take,
    select: { ...USER_ROW, quota: true, _count: { select: { sessions: true } }, vms: { where: { state: { not: "DESTROYED" } }, select: { state: true } } },
  });
  return Promise.all(
    users.map(async ({ vms, _count, ...u }) => ({
      ...u,
      sessions: _count.sessions,
      vms: vms.length,
      runningVms: vms.filter((v) => v.state === "RUNNING").length,
      balance: await balanceOf(db, u.id),
    })),
  );
}

async function loadUser(client: Db | Tx, id: string) {
  const user = await client.user.findUnique({ where: { id }, select: USER_ROW });
  if (!user) throw notFound("User");
  return user;
}

/** Refuses a change that would leave no enabled admin (run inside the change's transaction). */
async function assertAnotherAdminRemains(tx: Tx, userId: string, what: string) {
  const others = await tx.user.count({ where: { role: "ADMIN", disabled: false, id: { not: userId } } });
  if (others === 0) throw conflict(`Cannot ${what}: they are the last admin. Make another user admin first.`);
}

// Serializable: two admins demoting each other at once cannot both see "another admin remains".
const SERIAL = { isolationLevel: "Serializable" as const };

function audited<T>(userId: string, before: T, after: T): Change<T> {
  return { targetType: "User", targetId: userId, before, after };
}

export async function setUserRole(db: Db, admin: Actor, userId: string, role: Role, request: RequestInfo = NO_REQUEST) {
  requireManager(admin);
  const before = await db.$transaction(async (tx) => {
    const user = await loadUser(tx, userId);
    // Sign-in would give the role straight back: say where it comes from instead.
    if (user.role === "ADMIN" && role !== "ADMIN" && isListedAdmin(user.email, env().AUTH_ADMIN_EMAILS))
      throw conflict(`Cannot remove the admin role from ${user.email}: they are listed in AUTH_ADMIN_EMAILS; remove them there (and restart) first.`);
    if (user.role === "ADMIN" && role !== "ADMIN" && !user.disabled) await assertAnotherAdminRemains(tx, userId, `remove the admin role from ${user.email}`);
    await tx.user.update({ where: { id: userId }, data: { role } });
    return user;
  }, SERIAL);
  if (before.role !== role)
    await recordEvent(db, {
      type: "admin",
      action: "user.role",
      severity: "WARNING",
      message: `${admin.email} changed the role of ${before.email} from ${before.role} to ${role}`,
      actorId: admin.id,
      actorEmail: admin.email,
      targetUserId: userId,
      ...request,
      details: { before: before.role, after: role },
    });
  return audited(userId, { role: before.role }, { role });
}

/**
 * Disables or enables a user. Disabling ends every session at once (the rows
 * go in the same transaction) and, only when asked, stops their running VMs;
 * otherwise those keep running.
 */
export async function setUserDisabled(
  db: Db,
  admin: Actor,
  userId: string,
  disabled: boolean,
  opts: { stopVms?: boolean } = {},
  request: RequestInfo = NO_REQUEST,
) {
  requireManager(admin);
  if (disabled && userId === admin.id) throw new DomainError("BAD_REQUEST", "You cannot disable yourself.");
  const { before, sessionsEnded } = await db.$transaction(async (tx) => {
    const user = await loadUser(tx, userId);
    if (disabled && user.role === "ADMIN") await assertAnotherAdminRemains(tx, userId, `disable ${user.email}`);
    await tx.user.update({ where: { id: userId }, data: { disabled } });
    const ended = disabled ? (await tx.session.deleteMany({ where: { userId } })).count : 0;
    return { before: user, sessionsEnded: ended };
  }, SERIAL);
  const stopped: string[] = [];
  if (disabled && opts.stopVms) {
    const running = await db.vm.findMany({ where: { ownerId: userId, state: "RUNNING" }, select: { id: true } });
    for (const vm of running) {
      await adminStopVm(db, admin, vm.id, request);
      stopped.push(vm.id);
    }
  }
  if (before.disabled !== disabled)
    await recordEvent(db, {
      type: "admin",
      action: disabled ? "user.disable" : "user.enable",
      severity: disabled ? "WARNING" : "INFO",
      message:
        `${admin.email} ${disabled ? "disabled" : "enabled"} ${before.email}` +
        (disabled ? ` (${sessionsEnded} session(s) ended${stopped.length ? `, ${stopped.length} VM(s) stopping` : ""})` : ""),
      actorId: admin.id,
      actorEmail: admin.email,
      targetUserId: userId,
      ...request,
      details: { sessionsEnded, stoppedVms: stopped },
    });
  return { ...audited(userId, { disabled: before.disabled }, { disabled }), sessionsEnded, stoppedVms: stopped };
}

/**
 * Deletes a user. Their VMs go first, as destroy jobs: while any is not yet
 * destroyed the user is disabled (sessions ended) and the result is
 * "destroying"; call again once the jobs are done to delete the account. Events
 * and audit rows keep the user's id and email, so their history stays.
 */
export async function deleteUser(db: Db, admin: Actor, userId: string, request: RequestInfo = NO_REQUEST) {
  requireManager(admin);
  if (userId === admin.id) throw new DomainError("BAD_REQUEST", "You cannot delete yourself.");
  const user = await loadUser(db, userId);
  const live = await db.vm.findMany({ where: { ownerId: userId, state: { not: "DESTROYED" } }, select: { id: true, name: true, state: true } });
  if (live.length > 0) {
    if (!user.disabled) await setUserDisabled(db, admin, userId, true, {}, request);
    const destroying: string[] = [];
    for (const vm of live) {
      if (vm.state === "DESTROYING") continue;
      try {
        await adminDestroyVm(db, admin, vm.id, request);
        destroying.push(vm.id);
      } catch (err) {
        // A VM busy with another operation: it is destroyed on the next call.
        if (!(err instanceof DomainError && err.code === "CONFLICT")) throw err;
      }
    }
    return { status: "destroying" as const, ...audited(userId, user, { ...user, disabled: true }), remainingVms: live.map((v) => v.name), destroying };
  }
  await db.$transaction(async (tx) => {
    if (user.role === "ADMIN") await assertAnotherAdminRemains(tx, userId, `delete ${user.email}`);
    await tx.user.delete({ where: { id: userId } });
  }, SERIAL);
  await recordEvent(db, {
    type: "admin",
    action: "user.delete",
    severity: "WARNING",
    message: `${admin.email} deleted the account of ${user.email}`,
    actorId: admin.id,
    actorEmail: admin.email,
    targetUserId: userId,
    ...request,
    details: { email: user.email, role: user.role },
  });
  return {
    status: "deleted" as const,
    targetType: "User" as const,
    targetId: userId,
    before: user,
    after: null,
    remainingVms: [] as string[],
    destroying: [] as string[],
  };
}

/** A bulk grant's idempotency key covers the whole request: each user's grant uses "<key>:<user id>", so a retried request grants nobody twice. */
export type BulkAction =
  { kind: "disable"; stopVms?: boolean } | { kind: "enable" } | { kind: "grant"; amount: number; reason: string; idempotencyKey?: string };

export interface BulkOutcome {
  userId: string;
  email: string | null;
  ok: boolean;
  message: string;
}

/** Applies one action to each user in turn; one failure does not stop the rest. */
export async function bulkUserAction(db: Db, admin: Actor, userIds: string[], action: BulkAction, request: RequestInfo = NO_REQUEST): Promise<BulkOutcome[]> {
  requireManager(admin);
  const outcomes: BulkOutcome[] = [];
  for (const userId of [...new Set(userIds)]) {
    const email = (await db.user.findUnique({ where: { id: userId }, select: { email: true } }))?.email ?? null;
    try {
      if (!email) throw notFound("User");
      if (action.kind === "grant") {
        const idempotencyKey = action.idempotencyKey ? `${action.idempotencyKey}:${userId}` : null;
        const { balance, replayed } = await grantCredits(db, admin, { userId, amount: action.amount, reason: action.reason, idempotencyKey }, request);
        outcomes.push({ userId, email, ok: true, message: replayed ? `already granted, balance ${balance}` : `balance now ${balance}` });
      } else {
        const r = await setUserDisabled(db, admin, userId, action.kind === "disable", { stopVms: action.kind === "disable" && action.stopVms }, request);
        outcomes.push({ userId, email, ok: true, message: action.kind === "disable" ? `disabled, ${r.sessionsEnded} session(s) ended` : "enabled" });
      }
    } catch (err) {
      outcomes.push({ userId, email, ok: false, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return outcomes;
}
