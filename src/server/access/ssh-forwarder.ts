// SSH port forwarding: a TCP listener on each running VM's forwarded port
// (ssh-ports.ts) that pipes every connection to the guest's SSH port, so team
// members reach their VM from their own computer with `ssh -p <port>
// <user>@<host>`. The app only relays bytes: the guest's sshd authenticates
// (its own key and the owner's keys, no passwords; see guest-access.ts).
//
// The listeners follow the database, not memory: every few seconds, and when a
// job settles a VM (wakeSshForwarder), the set of RUNNING VMs with an address
// and a port is compared with what is open. So the forwarding comes back by
// itself after an app restart or a host reboot, and a VM that stops, or is
// destroyed, loses its listener and its open connections. A port the host
// cannot bind (another program holds it) is logged and recorded once and tried
// again on each pass.
import net from "node:net";
import { Coalesced } from "../coalesced";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { recordEvent } from "../events/record";

const RECONCILE_MS = 5_000;
/** How long a connection waits for the guest's SSH port to answer. */
const CONNECT_TIMEOUT_MS = 10_000;

interface Forward {
  vmId: string;
  port: number;
  target: { host: string; port: number };
  server: net.Server;
  sockets: Set<net.Socket>;
}

export interface ForwarderOptions {
  /** The address listeners bind: all interfaces unless a test narrows it. */
  bindHost?: string;
  reconcileMs?: number;
  env?: Env;
}

// On globalThis: the forwarder starts from the instrumentation hook, jobs
// settle VMs in the same bundle, but tests and route handlers may hold other copies.
const globalForForwarders = globalThis as unknown as { twargaSshForwarders?: Set<SshForwarder> };
const started = (globalForForwarders.twargaSshForwarders ??= new Set<SshForwarder>());

/** Asks this process's forwarder (if any) to follow the database now (after a VM changed state). */
export function wakeSshForwarder(): void {
  for (const f of started) f.wake();
}

export class SshForwarder {
  private readonly forwards = new Map<number, Forward>();
  /** Per VM, the bind failure last reported ("port:code"), so it is recorded once. */
  private readonly reported = new Map<string, string>();
  private readonly e: Env;
  private readonly bindHost: string;
  private readonly reconcileMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly passes = new Coalesced(() =>
    this.reconcile().catch((err: unknown) => console.error("[access] SSH forwarding could not follow the database:", err)),
  );
  private stopped = false;

  constructor(
    private readonly db: Db,
    options: ForwarderOptions = {},
  ) {
    this.e = options.env ?? env();
    this.bindHost = options.bindHost ?? "0.0.0.0";
    this.reconcileMs = options.reconcileMs ?? RECONCILE_MS;
  }

  start(): this {
    started.add(this);
    this.timer = setInterval(() => this.wake(), this.reconcileMs);
    this.timer.unref();
    this.wake();
    return this;
  }

  /** Ports with an open listener, and the VM each belongs to. */
  listening(): Map<number, string> {
    return new Map([...this.forwards].map(([port, f]) => [port, f.vmId]));
  }

  wake(): void {
    if (this.stopped) return;
    void this.passes.request();
  }

  /** Resolves once the pass in progress, and any asked for meanwhile, are done. */
  settled(): Promise<void> {
    return this.passes.settled();
  }

  private async reconcile(): Promise<void> {
    const wanted = new Map<number, { id: string; name: string; ownerId: string; host: string; port: number }>();
    if (this.e.VM_SSH_PORT_RANGE) {
      const vms = await this.db.vm.findMany({
        where: { state: "RUNNING", ipAddress: { not: null }, hostSshPort: { not: null } },
        select: { id: true, name: true, ownerId: true, ipAddress: true, sshPort: true, hostSshPort: true },
      });
      for (const vm of vms) wanted.set(vm.hostSshPort!, { id: vm.id, name: vm.name, ownerId: vm.ownerId, host: vm.ipAddress!, port: vm.sshPort ?? 22 });
    }
    for (const [port, f] of this.forwards) {
      const want = wanted.get(port);
      if (!want || want.id !== f.vmId || want.host !== f.target.host || want.port !== f.target.port) await this.close(port);
    }
    for (const [port, vm] of wanted) if (!this.forwards.has(port) && !this.stopped) await this.open(port, vm);
    for (const vmId of this.reported.keys()) if (![...wanted.values()].some((v) => v.id === vmId)) this.reported.delete(vmId);
  }

  private async open(port: number, vm: { id: string; name: string; ownerId: string; host: string; port: number }): Promise<void> {
    const sockets = new Set<net.Socket>();
    const target = { host: vm.host, port: vm.port };
    const server = net.createServer((client) => relay(client, target, sockets));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: this.bindHost, port, exclusive: true }, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      server.close();
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      const key = `${port}:${code}`;
      if (this.reported.get(vm.id) === key) return;
      this.reported.set(vm.id, key);
      const reason = code === "EADDRINUSE" ? "another program already listens on it" : code === "EACCES" ? "the app may not bind it" : (err as Error).message;
      console.error(`[access] cannot forward port ${port} to ${vm.name} (${vm.id}): ${reason}`);
      await recordEvent(this.db, {
        type: "vm",
        action: "vm.ssh-forward.failed",
        severity: "WARNING",
        message: `${vm.name}: SSH forwarding on host port ${port} is not available: ${reason}. Free the port, or change VM_SSH_PORT_RANGE; the app tries again every few seconds.`,
        targetUserId: vm.ownerId,
        targetVmId: vm.id,
        details: { port, code },
      }).catch((recordErr: unknown) => console.error("[access] could not record the forwarding failure:", recordErr));
      return;
    }
    server.on("error", (err) => console.error(`[access] SSH forwarding on port ${port} failed:`, err));
    if (this.reported.delete(vm.id)) console.log(`[access] SSH forwarding on port ${port} to ${vm.name} works again`);
    this.forwards.set(port, { vmId: vm.id, port, target, server, sockets });
  }

  /** Stops listening and ends every connection through the port. */
  private async close(port: number): Promise<void> {
    const f = this.forwards.get(port);
    if (!f) return;
    this.forwards.delete(port);
    const closed = new Promise<void>((resolve) => f.server.close(() => resolve()));
    for (const s of f.sockets) s.destroy();
    await closed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.settled();
    await Promise.all([...this.forwards.keys()].map((port) => this.close(port)));
    started.delete(this);
  }
}

/** Pipes one client connection to the guest; either side closing ends both. */
function relay(client: net.Socket, target: { host: string; port: number }, sockets: Set<net.Socket>): void {
  const upstream = net.connect({ host: target.host, port: target.port });
  sockets.add(client);
  sockets.add(upstream);
  // SSH is interactive: each keystroke should leave at once.
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error("the guest did not answer")));
  upstream.once("connect", () => upstream.setTimeout(0));
  const end = () => {
    client.destroy();
    upstream.destroy();
    sockets.delete(client);
    sockets.delete(upstream);
  };
  client.on("error", end);
  upstream.on("error", end);
  client.on("close", end);
  upstream.on("close", end);
  client.pipe(upstream);
  upstream.pipe(client);
}

export function startSshForwarder(db: Db, options: ForwarderOptions = {}): SshForwarder {
  return new SshForwarder(db, options).start();
}
