// Forwarded SSH ports: each VM gets a port of the host from VM_SSH_PORT_RANGE
// when it is launched (or, for a VM made before forwarding, on its next start)
// and keeps it until it is destroyed; ssh-forwarder.ts listens on it while the
// VM runs. The database is the only record (Vm.hostSshPort is unique), so the
// assignment survives restarts and two launches, in one process or several,
// can never share a port: both may pick the same lowest free port, the unique
// index lets one write it, and the other picks again.
import os from "node:os";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { DomainError, isUniqueViolation } from "../errors";

/** Each attempt loses only to a launch that took a port at the same moment, so this bounds the losers' patience, not a failure rate. */
const MAX_ATTEMPTS = 100;

export function sshForwardingEnabled(e: Env = env()): boolean {
  return e.VM_SSH_PORT_RANGE !== null;
}

/** The host name team members connect to: PUBLIC_SSH_HOST, else the host in AUTH_URL, else this machine's name. */
export function publicSshHost(e: Env = env()): string {
  if (e.PUBLIC_SSH_HOST) return e.PUBLIC_SSH_HOST;
  if (e.AUTH_URL) {
    const host = new URL(e.AUTH_URL).hostname.replace(/^\[(.*)\]$/, "$1");
    if (host) return host;
  }
  return os.hostname();
}

/** The lowest port of the range no VM holds, or null when every one is taken. */
async function lowestFreePort(db: Db, range: { first: number; last: number }): Promise<number | null> {
  const held = await db.vm.findMany({
    where: { hostSshPort: { gte: range.first, lte: range.last } },
    select: { hostSshPort: true },
    orderBy: { hostSshPort: "asc" },
  });
  let candidate = range.first;
  for (const { hostSshPort } of held) {
    if (hostSshPort! > candidate) break;
    candidate = hostSshPort! + 1;
  }
  return candidate <= range.last ? candidate : null;
}

export function portsExhausted(range: { first: number; last: number }): DomainError {
  return new DomainError(
    "CONFLICT",
    `Every forwarded SSH port of this host (${range.first}-${range.last}) belongs to a VM. Destroy a VM you no longer need, or ask an admin to widen VM_SSH_PORT_RANGE.`,
  );
}

/**
 * Gives the VM a forwarded SSH port unless it has one, and returns it (null
 * with forwarding off, or for a VM that is gone). Throws portsExhausted when
 * the range is used up.
 */
export async function assignSshPort(db: Db, vmId: string, e: Env = env()): Promise<number | null> {
  const range = e.VM_SSH_PORT_RANGE;
  if (!range) return null;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const vm = await db.vm.findUnique({ where: { id: vmId }, select: { hostSshPort: true, state: true } });
    if (!vm || vm.state === "DESTROYED") return null;
    if (vm.hostSshPort !== null) return vm.hostSshPort;
    const port = await lowestFreePort(db, range);
    if (port === null) throw portsExhausted(range);
    try {
      // Only a VM still without a port takes it: a concurrent assignment for the same VM wins once.
      const taken = await db.vm.updateMany({ where: { id: vmId, hostSshPort: null, state: { not: "DESTROYED" } }, data: { hostSshPort: port } });
      if (taken.count === 1) return port;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  throw new Error(`could not assign a forwarded SSH port to VM ${vmId} after ${MAX_ATTEMPTS} attempts: every pick was taken by a concurrent launch`);
}

/** For admin health: the range and how much of it VMs hold. */
export async function sshPortUsage(db: Db, e: Env = env()): Promise<{ range: string | null; size: number; used: number; free: number }> {
  const range = e.VM_SSH_PORT_RANGE;
  if (!range) return { range: null, size: 0, used: 0, free: 0 };
  const size = range.last - range.first + 1;
  const used = await db.vm.count({ where: { hostSshPort: { gte: range.first, lte: range.last } } });
  return { range: `${range.first}-${range.last}`, size, used, free: size - used };
}
