// AUTH_ADMIN_EMAILS at sign-in: a listed person is made admin (when their
// account is created, or at any later sign-in while they are a plain user),
// and every such promotion is an event, so a role that came from the settings
// file shows in the feed like one an admin gave. Demoting a listed admin is
// refused in admin/users.ts, so a promotion here never silently undoes an
// admin's decision.
import type { Db } from "../db/client";
import { recordEvent } from "../events/record";
import type { RequestInfo } from "../request-info";
import { isListedAdmin } from "./policy";

export const LISTED_ADMIN_ACTION = "role.admin-list";

/** Records that `user` holds the admin role because AUTH_ADMIN_EMAILS lists them. */
export async function recordListedAdmin(db: Db, user: { id: string; email: string }, how: "created" | "promoted", request: RequestInfo) {
  await recordEvent(db, {
    type: "auth",
    action: LISTED_ADMIN_ACTION,
    severity: "WARNING",
    actorId: user.id,
    actorEmail: user.email,
    targetUserId: user.id,
    ...request,
    message: `${user.email} ${how === "created" ? "joined as admin" : "became admin at sign-in"}: listed in AUTH_ADMIN_EMAILS`,
    details: { how, setting: "AUTH_ADMIN_EMAILS" },
  });
}

/**
 * At sign-in: makes a listed plain user admin, with an event. Returns whether
 * it promoted them (false for unlisted people and for those already admin).
 */
export async function promoteListedAdmin(db: Db, user: { id: string; email: string }, adminEmails: readonly string[], request: RequestInfo): Promise<boolean> {
  if (!isListedAdmin(user.email, adminEmails)) return false;
  // Only a USER row changes, so two sign-ins at once promote (and record) once.
  const { count } = await db.user.updateMany({ where: { id: user.id, role: "USER" }, data: { role: "ADMIN" } });
  if (count === 0) return false;
  await recordListedAdmin(db, user, "promoted", request);
  return true;
}
