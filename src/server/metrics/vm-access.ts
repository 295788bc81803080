// Who may see which VM's metrics. The rule itself is canViewVm in
// permissions.ts (owner or admin); this file only looks up the facts it needs.
import type { Db } from "../db/client";
import { notFound } from "../errors";
import { canViewVm, type Actor } from "../permissions";

/** The owner of a VM, or null when there is no such VM. */
export async function getVmOwner(db: Db, vmId: string): Promise<string | null> {
  const vm = await db.vm.findUnique({ where: { id: vmId }, select: { ownerId: true } });
  return vm?.ownerId ?? null;
}

/**
 * Throws NOT_FOUND unless the actor may see this VM's metrics; a VM someone
 * else owns looks the same as a VM that does not exist.
 */
export async function assertCanViewVmMetrics(db: Db, actor: Actor, vmId: string): Promise<void> {
  const ownerId = await getVmOwner(db, vmId);
  if (ownerId === null || !canViewVm(actor, { ownerId })) throw notFound("VM");
}

export interface VisibleVm {
  id: string;
  name: string;
  ownerId: string;
}

/** The running VMs the actor may see, for the live page. */
export async function visibleRunningVms(db: Db, actor: Actor): Promise<VisibleVm[]> {
  const running = await db.vm.findMany({ where: { state: "RUNNING" }, select: { id: true, name: true, ownerId: true }, orderBy: { name: "asc" } });
  return running.filter((vm) => canViewVm(actor, vm));
}

/** Owners of the given VMs (missing ones are left out). */
export async function vmOwners(db: Db, vmIds: string[]): Promise<Map<string, string>> {
  if (vmIds.length === 0) return new Map();
  const rows = await db.vm.findMany({ where: { id: { in: vmIds } }, select: { id: true, ownerId: true } });
  return new Map(rows.map((r) => [r.id, r.ownerId]));
}
