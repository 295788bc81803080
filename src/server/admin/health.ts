// The admin health view: one object gathering what each area reports about
// itself. The probes are parameters so the view can be tested without a
// hypervisor; the defaults call the areas' own functions.
import type { Db } from "../db/client";
import { pendingMigrations } from "../db/migrate";
import { env, type Env } from "../env";
import { forbidden } from "../errors";
import { followerStatus } from "../events/sshd-follower";
import { hostReadiness, type HostReadiness } from "../hypervisor/readiness";
import { filesystemUsage } from "../metrics/collectors/host";
import { databaseBytes, samplerStats } from "../metrics/sampler-health";
import type { SamplerStats } from "../metrics/sampler";
import { isAdmin, type Actor } from "../permissions";
import { appVersion } from "../version";
import { vmRoot } from "../folders";
import { sshPortUsage } from "../access/ssh-ports";
import { networkPoolUsage } from "../network/owner-networks";

export interface HealthProbes {
  databaseBytes(db: Db): Promise<number>;
  pendingMigrations(url: string): Promise<string[]>;
  sampler(db: Db): Promise<SamplerStats | null> | SamplerStats | null;
  host(db: Db): Promise<HostReadiness>;
  freeBytes(path: string): Promise<{ free: number; total: number }>;
  version(): string;
}

export const defaultProbes: HealthProbes = {
  databaseBytes,
  pendingMigrations: (url) => pendingMigrations(url),
  sampler: samplerStats, // from the sampler lease: a web-only replica shows it too
  host: (db) => hostReadiness(db), // stored by the host's background process: every replica shows the same
  async freeBytes(target) {
    const usage = await filesystemUsage(target);
    return { free: usage.availableBytes, total: usage.sizeBytes };
  },
  version: appVersion,
};

/** Runs a probe; a failing one becomes an error message instead of failing the page. */
async function attempt<T>(fn: () => Promise<T> | T): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export async function adminHealth(db: Db, actor: Actor, probes: HealthProbes = defaultProbes, e: Env = env(), now = Date.now()) {
  if (!isAdmin(actor)) throw forbidden("Admins only.");
  const started = performance.now();
  const reachable = await attempt(() => db.$queryRawUnsafe("SELECT 1"));
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  const [size, pending, host, disk, openAlerts, follower, networks, sshPorts, sharedNetworkVms] = await Promise.all([
    attempt(() => probes.databaseBytes(db)),
    attempt(() => probes.pendingMigrations(e.DATABASE_URL)),
    attempt(() => probes.host(db)),
    attempt(() => probes.freeBytes(vmRoot(e))),
    attempt(() => db.alertInstance.count({ where: { resolvedAt: null } })),
    attempt(() => followerStatus(db, e.SSHD_LOG_PATH)),
    attempt(() => networkPoolUsage(db, e)),
    attempt(() => sshPortUsage(db, e)),
    // VMs made before per-owner networks: on vagrant-libvirt's shared network until they are recreated.
    attempt(() => db.vm.count({ where: { state: { not: "DESTROYED" }, networkName: null } })),
  ]);
  const samplerProbe = await attempt(() => probes.sampler(db));
  const sampler = samplerProbe.ok ? samplerProbe.value : null;
  return {
    database: { reachable: reachable.ok, latencyMs, error: reachable.ok ? null : reachable.error, bytes: size.ok ? size.value : null },
    migrations: pending.ok ? { pending: pending.value, error: null } : { pending: null, error: pending.error },
    sampler: sampler
      ? {
          running: sampler.running,
          intervalMs: sampler.intervalMs,
          lastTickAt: sampler.lastTickAt,
          lagMs: sampler.lastTickAt ? now - sampler.lastTickAt : null,
          tickMsP95: sampler.tickMsP95,
          skippedTicks: sampler.skippedTicks,
        }
      : null,
    host: host.ok ? host.value : { ready: false, message: host.error, checks: [], driver: null, checkedAt: new Date(now), checkedBy: null, current: false },
    vmRoot: { path: vmRoot(e), ...(disk.ok ? { ...disk.value, error: null } : { free: null, total: null, error: disk.error }) },
    openAlerts: openAlerts.ok ? openAlerts.value : null,
    sshdLog: { path: e.SSHD_LOG_PATH, following: e.SSHD_LOG_FOLLOW, state: follower.ok ? follower.value : null },
    networkPool: networks.ok
      ? { ...networks.value, sharedNetworkVms: sharedNetworkVms.ok ? sharedNetworkVms.value : null, error: null }
      : { pool: e.VM_NETWORK_POOL.cidr, size: null, used: null, free: null, sharedNetworkVms: null, error: networks.error },
    sshPorts: sshPorts.ok ? { ...sshPorts.value, error: null } : { range: null, size: null, used: null, free: null, error: sshPorts.error },
    version: probes.version(),
  };
}
