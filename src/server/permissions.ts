// One function per access rule. Every procedure and page that reads or writes
// calls the rule that governs it here; nothing checks roles inline.
import { forbidden } from "./errors";

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

/** The one guard for "admins only" in domain code; tRPC's adminProcedure and the page guard apply the same isAdmin. */
export function assertAdmin(actor: Actor | null | undefined): void {
  if (!isAdmin(actor)) throw forbidden("Admins only.");
}

/** A VM (or anything a user owns) is visible to its owner and to admins. */
export function canViewOwned(actor: Actor | null | undefined, ownerId: string): boolean {
  return !!actor && (actor.role === "ADMIN" || actor.id === ownerId);
}

export const canViewVm = (actor: Actor | null | undefined, vm: { ownerId: string }) => canViewOwned(actor, vm.ownerId);
export const canActOnVm = (actor: Actor | null | undefined, vm: { ownerId: string }) => canViewOwned(actor, vm.ownerId);
/** A shell in the VM from the browser: the same people as the VM page (owner and admins). */
export const canOpenTerminal = (actor: Actor | null | undefined, vm: { ownerId: string }) => canViewOwned(actor, vm.ownerId);

/** Event visibility: admins see all; a user sees events they caused, that target them, or that concern their VMs. */
export function canViewEvent(
  actor: Actor | null | undefined,
  event: { actorId: string | null; targetUserId: string | null; targetVmId: string | null },
  ownedVmIds: ReadonlySet<string>,
): boolean {
  if (!actor) return false;
  if (actor.role === "ADMIN") return true;
  return event.actorId === actor.id || event.targetUserId === actor.id || (event.targetVmId !== null && ownedVmIds.has(event.targetVmId));
}

export const canManageUsers = isAdmin;
export const canViewHostMetrics = (actor: Actor | null | undefined) => !!actor;

/** Whether VM lists show every user's VMs (admins) or only the actor's own. */
export const canListAllVms = (actor: Actor | null | undefined): boolean => isAdmin(actor);

/** Adding SSH keys: the owner only. An admin must not be able to slip a key into someone else's VMs. */
export const canManageSshKeys = (actor: Actor | null | undefined, ownerUserId: string): boolean => !!actor && actor.id === ownerUserId;

/** Seeing and removing SSH keys: the owner, and admins (to revoke a key that leaked). */
export const canRevokeSshKeys = (actor: Actor | null | undefined, ownerUserId: string): boolean => canManageSshKeys(actor, ownerUserId) || isAdmin(actor);

/** Personal API tokens: created, listed and revoked by their owner only (an admin stops someone's tokens by disabling the user). */
export const canManageApiTokens = (actor: Actor | null | undefined, ownerUserId: string): boolean => !!actor && actor.id === ownerUserId;

/** The `admin` scope only for admins; every other scope for anyone signed in. */
export const canCreateApiTokenWithScope = (actor: Actor | null | undefined, scope: string): boolean => !!actor && (scope !== "admin" || isAdmin(actor));
