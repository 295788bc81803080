// Sampler health for admins: the sampler's own counters plus how big the
// metric tables are.
import type { Db } from "../db/client";
import { rollupCursors, TIER_TABLE, type Tier } from "./store";
import { runningSampler, type SamplerStats } from "./sampler";

const provider = (db: Db) => (db as unknown as { _activeProvider?: string })._activeProvider ?? "sqlite";

/** Size of the whole database in bytes. */
export async function databaseBytes(db: Db): Promise<number> {
  if (provider(db) === "postgresql") {
    const rows = await db.$queryRawUnsafe<{ size: bigint | number }[]>(`SELECT pg_database_size(current_database()) AS "size"`);
    return Number(rows[0]?.size ?? 0);
  }
  const [count] = await db.$queryRawUnsafe<{ page_count: bigint | number }[]>("PRAGMA page_count");
  const [size] = await db.$queryRawUnsafe<{ page_size: bigint | number }[]>("PRAGMA page_size");
  return Number(count?.page_count ?? 0) * Number(size?.page_size ?? 0);
}

export interface MetricsHealth {
  sampler: SamplerStats | null;
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
    sampler: runningSampler()?.stats() ?? null,
    databaseBytes: await databaseBytes(db),
    rowsByTier,
    rollupClosedThrough: await rollupCursors(db),
  };
}
