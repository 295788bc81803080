// Sampler health for admins: the sampler's own counters plus how big the
// metric tables are. The counters come from the sampler lease, where the
// sampling process publishes them with every heartbeat, so every process (a
// web-only replica too) shows them. The same status carries the raw counters
// the collectors read (for the Prometheus exposition); the health views leave
// those out.
import { providerOfClient, type Db } from "../db/client";
import { hostId, liveLeases } from "../leases";
import { rollupCursors, TIER_TABLE, type Tier } from "./store";
import { runningSampler, SAMPLER_LEASE_PREFIX, type SamplerStats } from "./sampler";

export interface SamplerStatus {
  host: string;
  /** The process that samples: "<host id>:<pid>:<random>". */
  holder: string;
  heartbeatAt: Date;
  stats: SamplerStats | null;
}

/** Every host's live sampler, as its lease says (no lease: no process samples that host). */
export async function liveSamplers(db: Db, nowMs = Date.now()): Promise<SamplerStatus[]> {
  return (await publishedSamplers(db, nowMs)).map((s) => ({ ...s, stats: s.stats && withoutCounters(s.stats) }));
}

async function publishedSamplers(db: Db, nowMs = Date.now()): Promise<SamplerStatus[]> {
  return (await liveLeases(db, SAMPLER_LEASE_PREFIX, nowMs)).map((l) => ({
    host: l.name.slice(SAMPLER_LEASE_PREFIX.length),
    holder: l.holder,
    heartbeatAt: l.heartbeatAt,
    stats: (l.status as SamplerStats | null) ?? null,
  }));
}

function withoutCounters({ counters: _counters, ...stats }: SamplerStats): SamplerStats {
  return stats;
}

/**
 * This host's sampler status with the raw counters it holds: live from this
 * process when it samples, else as last published on the lease (at most one
 * heartbeat old; each counter carries the time of the tick that read it).
 */
export async function latestSamplerStatus(db: Db): Promise<SamplerStats | null> {
  const local = runningSampler();
  if (local) return local.stats();
  const live = await publishedSamplers(db);
  return (live.find((s) => s.host === hostId()) ?? live[0])?.stats ?? null;
}

/** This host's sampler counters (ticks, durations, errors), as latestSamplerStatus finds them. */
export async function samplerStats(db: Db): Promise<SamplerStats | null> {
  const stats = await latestSamplerStatus(db);
  return stats && withoutCounters(stats);
}

/** Size of the whole database in bytes. */
export async function databaseBytes(db: Db): Promise<number> {
  if (providerOfClient(db) === "postgresql") {
    const rows = await db.$queryRawUnsafe<{ size: bigint | number }[]>(`SELECT pg_database_size(current_database()) AS "size"`);
    return Number(rows[0]?.size ?? 0);
  }
  const [count] = await db.$queryRawUnsafe<{ page_count: bigint | number }[]>("PRAGMA page_count");
  const [size] = await db.$queryRawUnsafe<{ page_size: bigint | number }[]>("PRAGMA page_size");
  return Number(count?.page_count ?? 0) * Number(size?.page_size ?? 0);
}

export interface MetricsHealth {
  sampler: SamplerStats | null;
  samplers: SamplerStatus[];
  databaseBytes: number;
  rowsByTier: Record<Tier, number>;
  rollupClosedThrough: { minute: number | null; hour: number | null };
}

export async function metricsHealth(db: Db): Promise<MetricsHealth> {
  const rowsByTier = { raw: 0, minute: 0, hour: 0 } as Record<Tier, number>;
  for (const tier of Object.keys(TIER_TABLE) as Tier[]) {
    const rows = await db.$queryRawUnsafe<{ n: bigint | number }[]>(`SELECT COUNT(*) AS "n" FROM "${TIER_TABLE[tier]}"`);
    rowsByTier[tier] = Number(rows[0]?.n ?? 0);
  }
  return {
    sampler: await samplerStats(db),
    samplers: await liveSamplers(db),
    databaseBytes: await databaseBytes(db),
    rowsByTier,
    rollupClosedThrough: await rollupCursors(db),
  };
}
