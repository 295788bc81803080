// Can this host run VMs right now? Checks QEMU, libvirt (its daemon answering
// on LIBVIRT_URI), Vagrant and its vagrant-libvirt plugin, and the driver choice.
// The admin health view shows the result; VM actions are disabled with its
// message while it is not ready. Monitoring does not depend on it.
//
// The answer lives in the database (HostStatus): the background process of the
// host checks every HOST_CHECK_INTERVAL_S and writes it, and every process
// (web-only replicas too, which have no hypervisor) reads the same row, so all
// of them show the same readiness and apply the same gate.
//
// The check is meant to cost nearly nothing when it repeats. The version
// probes start Ruby (`vagrant --version`, `vagrant plugin list`: about a second
// of CPU each) or QEMU, so a tool's version is asked again only when its binary
// changes (path, inode, size, mtime), and the plugin list only when Vagrant or a
// plugin manifest changes. Whether libvirt is alive is a connection to its
// socket (no child process); `virsh version` runs again only when that socket
// was re-created (the daemon restarted) or virsh changed.
import { createConnection } from "node:net";
import { stat } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { Prisma } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { childEnv } from "../child-env";
import { vagrantHome } from "../folders";
import { hostId } from "../leases";
import { QEMU_BIN, vmDriver, type DriverChoice } from "./driver";
import { commandFailure, runVirsh } from "./virsh";

export type HostComponent = "qemu" | "libvirt" | "vagrant" | "vagrant-libvirt";

export interface HostCheck {
  component: HostComponent;
  ok: boolean;
  version: string | null;
  /** What was found, or what went wrong. */
  detail: string;
  /** How to fix it, when not ok. */
  fix: string | null;
}

export interface HostReadiness {
  ready: boolean;
  /** One sentence for the admin view and for disabled VM actions. */
  message: string;
  checks: HostCheck[];
  driver: DriverChoice | null;
  checkedAt: Date;
  /** The host whose background process checked (HOST_ID or host name); null when nobody has. */
  checkedBy: string | null;
  /** False when no background process has checked within 3 × HOST_CHECK_INTERVAL_S: then nothing is known, and VM actions wait. */
  current: boolean;
}

const SETUP_FIX = "as root on the host run: bash scripts/host-setup.sh";
const CHECK_TIMEOUT_MS = 30_000;
const SOCKET_TIMEOUT_MS = 5_000;
/** A stored answer older than this many check intervals is unknown: its checker has stopped. */
export const STALE_AFTER_INTERVALS = 3;

type Run = (bin: string, args: string[]) => Promise<string>;

const runTool =
  (e: Env): Run =>
  async (bin, args) =>
    (await execa(bin, args, { timeout: CHECK_TIMEOUT_MS, stdin: "ignore", env: childEnv({ VAGRANT_HOME: vagrantHome(e), LC_ALL: "C" }), extendEnv: false }))
      .stdout;

export interface ReadinessDeps {
  run?: Run;
  virsh?: (args: string[]) => Promise<string>;
  driver?: () => Promise<DriverChoice>;
  /** Ask every tool again, ignoring what is known about unchanged binaries (the admin's "check again"). */
  full?: boolean;
}

/** Identity of a file as stat sees it through symlinks; null when missing. A changed binary or a re-created socket gets a new one. */
async function fileIdentity(file: string): Promise<string | null> {
  try {
    const s = await stat(file);
    return `${file}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return null;
  }
}

/** Where `bin` would be run from: itself when it has a slash, else the first match on the children's PATH. */
async function binaryIdentity(bin: string): Promise<string | null> {
  if (bin.includes("/")) return fileIdentity(path.resolve(bin));
  for (const dir of (childEnv().PATH ?? "").split(":").filter(Boolean)) {
    const found = await fileIdentity(path.join(dir, bin));
    if (found) return found;
  }
  return null;
}

/**
 * Where a libvirt URI's daemon listens, as libvirt's own client decides it:
 * an in-process driver (test:///) has no daemon; a local URI reaches the
 * socket named by ?socket=, else the modular virtqemud socket when it exists,
 * else libvirtd's. Remote URIs (ssh, tcp, tls, a host name) return null: only
 * virsh can tell whether they answer.
 */
export function libvirtEndpoint(
  uri: string,
  env: Record<string, string | undefined> = process.env,
): { kind: "in-process" } | { kind: "socket"; paths: string[] } | null {
  const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)(\/[^?]*)?(?:\?(.*))?$/i.exec(uri.trim());
  if (!m) return null;
  const [, driver, transport, host, uriPath = "", query = ""] = m;
  if (driver === "test") return { kind: "in-process" };
  if (host || (transport && transport !== "unix")) return null;
  const socket = new URLSearchParams(query).get("socket");
  if (socket) return { kind: "socket", paths: [socket] };
  const dir = uriPath === "/session" ? (env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, "libvirt") : null) : "/run/libvirt";
  if (!dir || driver !== "qemu") return null;
  return { kind: "socket", paths: [path.join(dir, "virtqemud-sock"), path.join(dir, "libvirt-sock")] };
}

/** Resolves when something accepts a connection on the unix socket; rejects with virsh's wording otherwise. */
function connectSocket(socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`failed to connect to the hypervisor: cannot connect to socket ${socketPath}: ${why}`));
    };
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => fail(`no answer within ${SOCKET_TIMEOUT_MS / 1000} s`));
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", (err: NodeJS.ErrnoException) =>
      fail(err.code === "ENOENT" ? "No such file or directory" : err.code === "ECONNREFUSED" ? "Connection refused" : err.message),
    );
  });
}

// Successful version checks by the identity of what they depend on. Failures
// are not kept: a host that is not ready is asked again every interval, so a
// fix shows up without waiting for a binary to change.
const globalForReadiness = globalThis as unknown as { twargaToolVersions?: Map<string, HostCheck> };
const knownVersions = (globalForReadiness.twargaToolVersions ??= new Map());

async function check(
  component: HostComponent,
  identity: string | null,
  full: boolean,
  probe: () => Promise<string>,
  version: (out: string) => string | null,
  fix: string,
): Promise<HostCheck> {
  const key = identity === null ? null : `${component}\0${identity}`;
  const known = key && !full ? knownVersions.get(key) : undefined;
  if (known) return known;
  let result: HostCheck;
  try {
    const out = await probe();
    const found = version(out);
    result =
      found === null
        ? { component, ok: false, version: null, detail: `${component} not found in: ${out.trim().split("\n")[0] ?? ""}`, fix }
        : { component, ok: true, version: found, detail: `${component} ${found}`, fix: null };
  } catch (error) {
    result = { component, ok: false, version: null, detail: commandFailure(error), fix };
  }
  if (key && result.ok) {
    for (const k of knownVersions.keys()) if (k.startsWith(`${component}\0`)) knownVersions.delete(k); // only the current binary's answer
    knownVersions.set(key, result);
  }
  return result;
}

/**
 * Checks this host now. Starts a child process only for a tool whose version
 * is not known for its current binary (see the top of this file); on a host
 * that stays ready and unchanged that is none at all.
 */
export async function checkHostReadiness(e: Env = env(), deps: ReadinessDeps = {}): Promise<HostReadiness> {
  const run = deps.run ?? runTool(e);
  const virsh = deps.virsh ?? ((args: string[]) => runVirsh(args, e, CHECK_TIMEOUT_MS));
  const full = deps.full ?? false;
  const endpoint = libvirtEndpoint(e.LIBVIRT_URI);
  const [qemuId, virshId, vagrantId] = await Promise.all([binaryIdentity(QEMU_BIN), binaryIdentity(e.VIRSH_BIN), binaryIdentity(e.VAGRANT_BIN)]);
  // Plugins live in Vagrant's own manifest (VAGRANT_HOME) and, for Debian's packaged ones, in /usr/share/vagrant-plugins.
  const manifests = await Promise.all(
    [path.join(vagrantHome(e), "plugins.json"), "/usr/share/vagrant-plugins/plugins.json", "/usr/share/vagrant-plugins/plugins.d"].map(fileIdentity),
  );
  const pluginId = vagrantId && [vagrantId, ...manifests.map((m) => m ?? "-")].join("|");

  // libvirt: a socket connection says whether the daemon is up; the version (and that virsh may talk to it) is asked
  // once per daemon start. In-process drivers have no daemon; remote URIs are asked through virsh every time.
  let libvirtId: string | null = null;
  let liveness: Promise<void> = Promise.resolve();
  if (endpoint?.kind === "in-process") libvirtId = virshId && `${virshId}|${e.LIBVIRT_URI}`;
  else if (endpoint?.kind === "socket") {
    const sockets = await Promise.all(endpoint.paths.map(async (p) => ({ p, id: await fileIdentity(p) })));
    const socket = sockets.find((s) => s.id !== null) ?? sockets[sockets.length - 1]!;
    libvirtId = virshId && socket.id && `${virshId}|${e.LIBVIRT_URI}|${socket.id}`;
    liveness = connectSocket(socket.p);
  }

  const [qemu, libvirt, vagrant, plugin, driver] = await Promise.all([
    check(
      "qemu",
      qemuId,
      full,
      () => run(QEMU_BIN, ["--version"]),
      (o) => /QEMU emulator version (\S+)/.exec(o)?.[1] ?? null,
      `install QEMU (Debian: apt-get install --no-install-recommends qemu-system-x86 qemu-utils), or ${SETUP_FIX}`,
    ),
    liveness.then(
      () =>
        check(
          "libvirt",
          libvirtId,
          full,
          () => virsh(["version"]),
          (o) => {
            const lib = /Using library: libvirt (\S+)/.exec(o)?.[1];
            const hv = /Running hypervisor: (.+)$/m.exec(o)?.[1]?.trim();
            return lib ? `${lib}${hv ? ` (hypervisor ${hv})` : ""}` : null;
          },
          libvirtFix(e),
        ),
      (error: unknown): HostCheck => ({ component: "libvirt", ok: false, version: null, detail: commandFailure(error), fix: libvirtFix(e) }),
    ),
    check(
      "vagrant",
      vagrantId,
      full,
      () => run(e.VAGRANT_BIN, ["--version"]),
      (o) => /Vagrant (\S+)/.exec(o)?.[1] ?? null,
      `install Vagrant (Debian: apt-get install --no-install-recommends vagrant) or set VAGRANT_BIN; ${SETUP_FIX}`,
    ),
    check(
      "vagrant-libvirt",
      pluginId,
      full,
      () => run(e.VAGRANT_BIN, ["plugin", "list"]),
      (o) => /vagrant-libvirt \(([^,)]+)/.exec(o)?.[1] ?? null,
      `install the vagrant-libvirt plugin (Debian: apt-get install --no-install-recommends vagrant-libvirt); ${SETUP_FIX}`,
    ),
    (deps.driver ?? (() => vmDriver(e)))().catch(() => null),
  ]);
  const checks = [qemu, libvirt, vagrant, plugin];
  const failing = checks.filter((c) => !c.ok);
  const ready = failing.length === 0;
  const message = ready
    ? `Ready: ${checks.map((c) => c.detail).join(", ")}; driver ${driver?.driver ?? "unknown"}${driver ? ` (${driver.reason})` : ""}.`
    : `VM actions are disabled: ${failing.map((c) => `${c.component}: ${c.detail}`).join("; ")}. Fix: ${failing[0]!.fix}.`;
  return { ready, message, checks, driver, checkedAt: new Date(), checkedBy: hostId(), current: true };
}

const libvirtFix = (e: Env) => `start libvirtd and make ${e.LIBVIRT_URI} reachable for the app's user: ${SETUP_FIX}`;

/** Checks this host and stores the answer for every process. */
export async function recordHostReadiness(db: Db, e: Env = env(), deps: ReadinessDeps = {}): Promise<HostReadiness> {
  const r = await checkHostReadiness(e, deps);
  const data = {
    ready: r.ready,
    message: r.message,
    checks: r.checks as object[],
    driver: r.driver ? (r.driver as object) : Prisma.DbNull,
    checkedAt: r.checkedAt,
  };
  await db.hostStatus.upsert({ where: { host: r.checkedBy! }, create: { host: r.checkedBy!, ...data }, update: data });
  return r;
}

const staleAfterMs = (e: Env) => STALE_AFTER_INTERVALS * e.HOST_CHECK_INTERVAL_S * 1000;

/** The stored answer: this host's own row in a process that checks it, else the latest any host's background process wrote. */
async function storedReadiness(db: Db, host: string | null, e: Env, nowMs: number): Promise<HostReadiness | null> {
  const row = host ? await db.hostStatus.findUnique({ where: { host } }) : await db.hostStatus.findFirst({ orderBy: { checkedAt: "desc" } });
  if (!row) return null;
  return {
    ready: row.ready,
    message: row.message,
    checks: row.checks as unknown as HostCheck[],
    driver: (row.driver as unknown as DriverChoice | null) ?? null,
    checkedAt: row.checkedAt,
    checkedBy: row.host,
    current: nowMs - row.checkedAt.getTime() <= staleAfterMs(e),
  };
}

/** What a process that cannot check the host says when the stored answer is missing or too old. */
function unknownReadiness(stored: HostReadiness | null, e: Env): HostReadiness {
  const last = stored ? ` The last check (${stored.checkedBy}, ${stored.checkedAt.toISOString()}) said: ${stored.message}` : "";
  return {
    ready: false,
    message:
      `VM actions are disabled: host readiness unknown, no background process has checked the host in the last ${staleAfterMs(e) / 1000} s. ` +
      `Fix: start the app with BACKGROUND_SERVICES=true on the hypervisor host.${last}`,
    checks: stored?.checks ?? [],
    driver: stored?.driver ?? null,
    checkedAt: stored?.checkedAt ?? new Date(0),
    checkedBy: stored?.checkedBy ?? null,
    current: false,
  };
}

// One check at a time per database: requests that arrive while one runs share its answer.
const inFlight = new WeakMap<Db, Promise<HostReadiness>>();
function recordOnce(db: Db, e: Env, deps: ReadinessDeps): Promise<HostReadiness> {
  let running = inFlight.get(db);
  if (!running) {
    running = recordHostReadiness(db, e, deps).finally(() => inFlight.delete(db));
    inFlight.set(db, running);
  }
  return running;
}

/**
 * The host's readiness as stored in the database. A process that runs the
 * background services is on the hypervisor host: when its host's row is
 * missing or stale (it started a moment ago), or on `refresh` (the admin ran
 * host setup), it checks now and stores the answer. A web-only replica only
 * reads; a stale or missing row is then "unknown", and VM actions wait.
 */
export async function hostReadiness(db: Db, opts: { refresh?: boolean } = {}, e: Env = env(), nowMs = Date.now()): Promise<HostReadiness> {
  const checksHere = e.BACKGROUND_SERVICES;
  if (checksHere && opts.refresh) return recordOnce(db, e, { full: true });
  const stored = await storedReadiness(db, checksHere ? hostId() : null, e, nowMs);
  if (stored?.current) return stored;
  if (checksHere) return recordOnce(db, e, {});
  return unknownReadiness(stored, e);
}

/** The background service: checks this host every HOST_CHECK_INTERVAL_S and stores the answer. */
export function startHostReadinessChecks(db: Db, e: Env = env()): { stop(): Promise<void> } {
  const tick = () =>
    recordOnce(db, e, {}).catch((err) => console.error(`[twarga] host readiness check failed: ${err instanceof Error ? err.message : String(err)}`));
  const first = tick();
  const timer = setInterval(tick, e.HOST_CHECK_INTERVAL_S * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await first;
      await inFlight.get(db)?.catch(() => {});
    },
  };
}
