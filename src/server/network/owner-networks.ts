// One libvirt NAT network per VM owner, so owners' VMs cannot reach each
// other: libvirt's firewall rules for NAT networks accept traffic within one
// bridge and refuse new connections into a network from outside it, including
// from another libvirt network. A user's VMs share
// their network and reach each other, the host and the outside world.
//
// Each owner's network is a /24 of VM_NETWORK_POOL, recorded as an
// OwnerNetwork row (unique user, name and subnet index, so concurrent first
// launches get one network and two owners never share a /24). Before a VM of
// theirs is created, the app defines and starts the network itself, so its
// bridge name is ours (vagrant-libvirt would pick virbrN) and vagrant-libvirt
// finds it by address and name (lv.management_network_name/_address) instead of
// creating one. When an owner's last VM is destroyed the network goes too.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { OwnerNetwork } from "~/generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { DomainError, isUniqueViolation } from "../errors";
import { recordEvent } from "../events/record";
import { commandFailure, runVirsh } from "../hypervisor/virsh";

export interface OwnerNetworkSpec {
  /**
   * The libvirt network's name, also in the Vagrantfile: `twarga-` and the /24
   * (10.231.3.0/24 is `twarga-10-231-3`), so two installations with different
   * pools on one host never reach for the same name.
   */
  name: string;
  /** Its bridge on the host, from the /24 in hex (at most 15 characters, the kernel's limit): `virbr-tw0ae703`. */
  bridge: string;
  /** The /24's index in VM_NETWORK_POOL. */
  index: number;
  /** "10.231.3.0/24" */
  cidr: string;
  /** The host's address on the bridge, the guests' gateway: "10.231.3.1". */
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
}

const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");

/** The network of subnet index `index` in the pool. */
export function ownerNetworkSpec(index: number, e: Env = env()): OwnerNetworkSpec {
  const pool = e.VM_NETWORK_POOL;
  if (!Number.isSafeInteger(index) || index < 0 || index >= pool.size)
    throw new Error(`subnet index ${index} is outside VM_NETWORK_POOL ${pool.cidr} (${pool.size} networks)`);
  const base = (pool.base + index * 256) >>> 0;
  const net24 = base >>> 8;
  return {
    name: `twarga-${[16, 8, 0].map((s) => (net24 >>> s) & 255).join("-")}`,
    bridge: `virbr-tw${net24.toString(16).padStart(6, "0")}`,
    index,
    cidr: `${dotted(base)}/24`,
    gateway: dotted(base + 1),
    dhcpStart: dotted(base + 2),
    dhcpEnd: dotted(base + 254),
  };
}

/** The libvirt network definition: NAT forwarding, our bridge, the gateway with DHCP for the rest of the /24. */
export function ownerNetworkXml(spec: OwnerNetworkSpec): string {
  return `<network>
  <name>${spec.name}</name>
  <forward mode='nat'/>
  <bridge name='${spec.bridge}' stp='on' delay='0'/>
  <ip address='${spec.gateway}' netmask='255.255.255.0'>
    <dhcp>
      <range start='${spec.dhcpStart}' end='${spec.dhcpEnd}'/>
    </dhcp>
  </ip>
</network>
`;
}

export function networkPoolExhausted(e: Env = env()): DomainError {
  const pool = e.VM_NETWORK_POOL;
  return new DomainError(
    "CONFLICT",
    `No VM network is free: all ${pool.size} networks of the pool ${pool.cidr} belong to other users. A network comes back when its owner destroys their last VM; an admin can widen VM_NETWORK_POOL.`,
  );
}

// Define/start and stop/undefine of one owner's network never overlap in this
// process (on globalThis: the job runner and route handlers are bundled apart).
const globalForLocks = globalThis as unknown as { twargaNetworkLocks?: Map<string, Promise<unknown>> };
const locks = (globalForLocks.twargaNetworkLocks ??= new Map<string, Promise<unknown>>());
async function withOwnerLock<T>(userId: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(userId) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(fn);
  locks.set(userId, next);
  try {
    return await next;
  } finally {
    if (locks.get(userId) === next) locks.delete(userId);
  }
}

/** The owner's network row, made on first need with the lowest free /24. Throws networkPoolExhausted when none is left. */
export async function allocateOwnerNetwork(db: Db, userId: string, e: Env = env()): Promise<OwnerNetwork> {
  const pool = e.VM_NETWORK_POOL;
  for (let attempt = 0; attempt < 100; attempt++) {
    const existing = await db.ownerNetwork.findUnique({ where: { userId } });
    if (existing) return existing;
    const taken = await db.ownerNetwork.findMany({ select: { subnet: true }, orderBy: { subnet: "asc" } });
    let index = 0;
    for (const { subnet } of taken) {
      if (subnet > index) break;
      if (subnet === index) index++;
    }
    if (index >= pool.size) throw networkPoolExhausted(e);
    try {
      return await db.ownerNetwork.create({ data: { userId, subnet: index, name: ownerNetworkSpec(index, e).name } });
    } catch (err) {
      // Another launch took this /24, or made this owner's row first: look again.
      if (!isUniqueViolation(err)) throw err;
    }
  }
  throw new Error(`could not allocate a VM network for user ${userId}: every pick was taken by a concurrent launch`);
}

/** A temporary file for `virsh net-define`, in a folder of its own (virsh reads it; libvirtd never does). */
async function withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "twarga-net-"));
  try {
    const file = path.join(dir, "network.xml");
    if (file.includes("'")) throw new Error(`refusing a temporary path with a quote: ${file}`);
    await writeFile(file, xml, { mode: 0o600 });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function attr(xml: string, element: string, name: string): string | null {
  const m = new RegExp(`<${element}\\b[^>]*\\s${name}=['"]([^'"]*)['"]`).exec(xml);
  return m ? m[1]! : null;
}

/**
 * Makes the libvirt network exist, run and start with the host. One virsh
 * invocation runs the whole sequence: each step tolerates the state another
 * process (or an earlier run) left ("already exists", "already running"),
 * and the final dump is what is checked. Throws a message naming the network
 * when it exists with another definition or cannot be started.
 */
export async function ensureLibvirtNetwork(spec: OwnerNetworkSpec, e: Env = env()): Promise<void> {
  const n = spec.name;
  const sequence = (file: string) => `net-define '${file}'; net-start ${n}; net-autostart ${n}; net-info ${n}; net-dumpxml ${n}`;
  const out = await withXmlFile(ownerNetworkXml(spec), (file) => runVirsh([sequence(file)], e)).catch((err: unknown) => {
    throw new Error(`Could not create the VM network ${n} (${spec.cidr}): ${commandFailure(err)}`);
  });
  const xml = out.slice(out.indexOf("<network"));
  const found = {
    mode: attr(xml, "forward", "mode"),
    bridge: attr(xml, "bridge", "name"),
    address: attr(xml, "ip", "address"),
    netmask: attr(xml, "ip", "netmask"),
  };
  if (found.mode !== "nat" || found.bridge !== spec.bridge || found.address !== spec.gateway || found.netmask !== "255.255.255.0")
    throw new Error(
      `The libvirt network ${n} already exists with another definition ` +
        `(forward ${found.mode ?? "none"}, bridge ${found.bridge ?? "none"}, address ${found.address ?? "none"}/${found.netmask ?? "?"}); ` +
        `the app expects NAT on ${spec.bridge} with ${spec.gateway}/24. Remove it (virsh net-destroy ${n}; virsh net-undefine ${n}) or change VM_NETWORK_POOL.`,
    );
  if (!/^Active:\s+yes$/m.test(out)) {
    // Ask again on its own, so the error is libvirt's reason (an address already on a host interface, a bridge in use…).
    await runVirsh(["net-start", n], e).catch((err: unknown) => {
      throw new Error(
        `The VM network ${n} (${spec.cidr}) could not be started: ${commandFailure(err)}. If the host already uses this range, change VM_NETWORK_POOL.`,
      );
    });
  }
}

/**
 * The owner's network, allocated if needed and running in libvirt: what a
 * VM's Vagrantfile names before `vagrant up` creates its domain.
 */
export async function ensureOwnerNetwork(db: Db, userId: string, e: Env = env()): Promise<OwnerNetworkSpec> {
  return withOwnerLock(userId, async () => {
    const row = await allocateOwnerNetwork(db, userId, e);
    const spec = ownerNetworkSpec(row.subnet, e);
    await ensureLibvirtNetwork(spec, e);
    return spec;
  });
}

/** Stops and removes the libvirt network unless an interface is still attached. Returns false when it is still in use. */
export async function removeLibvirtNetwork(name: string, e: Env = env()): Promise<boolean> {
  let xml: string;
  try {
    xml = await runVirsh(["net-dumpxml", name], e);
  } catch (err) {
    if (/network not found|no network with matching name/i.test(commandFailure(err))) return true;
    throw err;
  }
  // libvirt counts the guest interfaces plugged into a running network.
  if (Number(attr(xml, "network", "connections") ?? 0) > 0) return false;
  const out = await runVirsh([`net-destroy ${name}; net-undefine ${name}; net-list --all --name`], e);
  if (out.split("\n").some((l) => l.trim() === name)) throw new Error(`the libvirt network ${name} is still defined after net-undefine`);
  return true;
}

/**
 * When the owner has no VM left (every one destroyed), their network is
 * stopped and undefined and its /24 returns to the pool. A failure is logged
 * and recorded, not thrown: the destroy it follows has succeeded, and the
 * next destroy tries again.
 */
export async function releaseOwnerNetworkIfUnused(db: Db, userId: string, e: Env = env()): Promise<"released" | "in-use" | "none" | "failed"> {
  return withOwnerLock(userId, async () => {
    const row = await db.ownerNetwork.findUnique({ where: { userId } });
    if (!row) return "none";
    if ((await db.vm.count({ where: { ownerId: userId, state: { not: "DESTROYED" } } })) > 0) return "in-use";
    try {
      if (!(await removeLibvirtNetwork(row.name, e))) {
        console.warn(`[network] ${row.name} still has guest interfaces attached; it stays until the next destroy`);
        return "in-use";
      }
    } catch (err) {
      const reason = commandFailure(err);
      console.error(`[network] could not remove ${row.name}:`, reason);
      const message = `The VM network ${row.name} could not be removed: ${reason}`;
      await recordEvent(db, {
        type: "system",
        action: "network.remove.failed",
        severity: "WARNING",
        message,
        targetUserId: userId,
        details: { network: row.name },
      });
      return "failed";
    }
    await db.ownerNetwork.deleteMany({ where: { id: row.id } });
    return "released";
  });
}

/** For admin health: the pool and how much of it owners hold. */
export async function networkPoolUsage(db: Db, e: Env = env()): Promise<{ pool: string; size: number; used: number; free: number }> {
  const pool = e.VM_NETWORK_POOL;
  const used = await db.ownerNetwork.count({ where: { subnet: { lt: pool.size } } });
  return { pool: pool.cidr, size: pool.size, used, free: pool.size - used };
}
