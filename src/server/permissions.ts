// One function per access rule. Every procedure and page that reads or writes
// calls the rule that governs it here; nothing checks roles inline.
export type Role = "USER" | "ADMIN";

/** Who is asking: the signed-in user as read from the database on this request. */
export interface Actor {
  id: string;
  email: string;
  role: Role;
}

export function isAdmin(actor: Actor | null | undefined): boolean {
  return actor?.role === "ADMIN";
}

/** A VM (or anything a user owns) is visible to its owner and to admins. */
export function canViewOwned(actor: Actor | null | undefined, ownerId: string): boolean {
  return !!actor && (actor.role === "ADMIN" || actor.id === ownerId);
}

export const canViewVm = (actor: Actor | null | undefined, vm: { ownerId: string }) => canViewOwned(actor, vm.ownerId);
export const canActOnVm = (actor: Actor | null | undefined, vm: { ownerId: string }) => canViewOwned(actor, vm.ownerId);

/** Event visibility: admins see all; a user sees events they caused, that target them, or that concern their VMs. */
export function canViewEvent(actor: Actor | null | undefined, event: { actorId: string | null; targetUserId: string | null; targetVmId: string | null }, ownedVmIds: ReadonlySet<string>): boolean {
  if (!actor) return false;
  if (actor.role === "ADMIN") return true;
  return event.actorId === actor.id || event.targetUserId === actor.id || (event.targetVmId !== null && ownedVmIds.has(event.targetVmId));
}

export const canManageUsers = isAdmin;
export const canViewHostMetrics = (actor: Actor | null | undefined) => !!actor;

/** Whether VM lists show every user's VMs (admins) or only the actor's own. */
export const canListAllVms = (actor: Actor | null | undefined): boolean => isAdmin(actor);
