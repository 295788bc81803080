// VM actions need a host that can run VMs. While the host readiness stored in
// the database (src/server/hypervisor/readiness.ts) says not ready, or nobody
// has checked recently, every VM action is refused with its message, which
// names what is missing and how to fix it; monitoring and the rest of the app
// keep working. Every process, web-only replicas too, reads the same answer.
import type { Db } from "../db/client";
import { DomainError } from "../errors";
import { env, type Env } from "../env";
import { hostReadiness } from "../hypervisor/readiness";

/** What the VM pages show: whether VM actions are enabled, and why not. */
export async function vmActionsStatus(db: Db, e: Env = env()): Promise<{ enabled: boolean; message: string | null }> {
  const readiness = await hostReadiness(db, {}, e);
  return { enabled: readiness.ready, message: readiness.ready ? null : readiness.message };
}

/** Throws PRECONDITION_FAILED with the readiness message when the host cannot run VMs now. */
export async function assertHostReady(db: Db, e: Env = env()): Promise<void> {
  const status = await vmActionsStatus(db, e);
  if (!status.enabled) throw new DomainError("PRECONDITION_FAILED", status.message!);
}
