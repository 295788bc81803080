// The catalog of boxes users may launch. Admins edit it (admin console); the
// defaults below are seeded once, idempotently, at start-up. A catalog entry is
// offered only while its box is installed on this host (installed-boxes.ts), so
// the catalog never promises a launch that would fail on a missing box. Boxes
// that exist only for the stand-in tests are made by the tests themselves.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { installedBoxes, installedBoxNames } from "./installed-boxes";

export const DEFAULT_BOXES = [
  { name: "local/debian12", displayName: "Debian 12 (bookworm)", osFamily: "debian", minCpus: 1, minRamMb: 512, minDiskGb: 10 },
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

/** What the launch form offers: enabled entries whose box this host has installed. */
export async function listLaunchableBoxes(db: Db, e: Env = env()) {
  const [rows, installed] = await Promise.all([listEnabledBoxes(db), installedBoxNames(e)]);
  return { boxes: rows.filter((b) => installed.names.has(b.name)), installedError: installed.error };
}

export function listAllBoxes(db: Db) {
  return db.box.findMany({ orderBy: { displayName: "asc" } });
}

/** Every catalog entry with whether its box is installed here, and the installed boxes themselves (for Admin → Catalog). */
export async function catalogWithInstalled(db: Db, e: Env = env()) {
  const [rows, installed] = await Promise.all([listAllBoxes(db), installedBoxes(e)]);
  const libvirt = installed.boxes.filter((b) => b.provider === "libvirt");
  const names = new Set(libvirt.map((b) => b.name));
  return {
    entries: rows.map((b) => ({ ...b, installed: names.has(b.name) })),
    installed: libvirt.map((b) => ({ ...b, inCatalog: rows.some((r) => r.name === b.name) })),
    installedError: installed.error,
  };
}
