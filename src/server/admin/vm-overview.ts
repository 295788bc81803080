// The console's view of every VM and of the jobs in flight (the emergency
// stop-all shows its progress from these). Actions on VMs are the VMs area's
// admin functions (src/server/vms/admin-actions.ts).
import type { VmState } from "../../generated/prisma/sqlite/enums";
import type { Db } from "../db/client";
import { forbidden } from "../errors";
import { canListAllVms, type Actor } from "../permissions";
import { listVms } from "../vms/queries";

export async function listAllVms(db: Db, actor: Actor, filter: { owner?: string; state?: VmState; includeDestroyed?: boolean }) {
  if (!canListAllVms(actor)) throw forbidden("Admins only.");
  const owner = filter.owner?.trim().toLowerCase();
  const vms = await listVms(db, actor, { includeDestroyed: filter.includeDestroyed || filter.state === "DESTROYED" });
  return vms.filter((vm) => (!owner || vm.ownerEmail.toLowerCase().includes(owner)) && (!filter.state || vm.state === filter.state));
}

/** Jobs queued, running, or finished within the last `sinceMs`, newest first. */
export async function recentJobs(db: Db, actor: Actor, sinceMs = 15 * 60_000, now = Date.now()) {
  if (!canListAllVms(actor)) throw forbidden("Admins only.");
  const jobs = await db.vmJob.findMany({
    where: { OR: [{ state: { in: ["QUEUED", "RUNNING"] } }, { finishedAt: { gte: new Date(now - sinceMs) } }] },
    orderBy: { createdAt: "desc" },
    take: 500,
    select: {
      id: true,
      kind: true,
      state: true,
      progress: true,
      step: true,
      message: true,
      createdAt: true,
      finishedAt: true,
      requestedByEmail: true,
      vm: { select: { id: true, name: true, owner: { select: { email: true } } } },
    },
  });
  const counts = { queued: 0, running: 0, succeeded: 0, failed: 0 };
  for (const j of jobs) {
    if (j.state === "QUEUED") counts.queued++;
    else if (j.state === "RUNNING") counts.running++;
    else if (j.state === "SUCCEEDED") counts.succeeded++;
    else counts.failed++;
  }
  return { jobs, counts };
}
