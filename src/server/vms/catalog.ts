// The catalog of boxes users may launch. Admins edit it (admin console); the
// defaults below are seeded once, idempotently, at start-up.
import type { Db } from "../db/client";

export const DEFAULT_BOXES = [
  { name: "local/debian12", displayName: "Debian 12 (bookworm)", osFamily: "debian", minCpus: 1, minRamMb: 512, minDiskGb: 10 },
  { name: "local/tiny", displayName: "Debian 12 minimal (tiny)", osFamily: "debian", minCpus: 1, minRamMb: 512, minDiskGb: 10 },
] as const;

/** Inserts the default boxes that are missing; never changes an existing row (admins may have edited it). */
export async function ensureDefaultCatalog(db: Db): Promise<void> {
  for (const box of DEFAULT_BOXES) {
    await db.box.upsert({ where: { name: box.name }, create: box, update: {} });
  }
}

export function listEnabledBoxes(db: Db) {
  return db.box.findMany({ where: { enabled: true }, orderBy: { displayName: "asc" } });
}

export function listAllBoxes(db: Db) {
  return db.box.findMany({ orderBy: { displayName: "asc" } });
}
