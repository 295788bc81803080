// Shared set-up for VM integration tests. Import it FIRST: it points the app's
// settings at the stand-in vagrant and a temporary VM root before anything
// reads them (env() is read once per process).
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import "../../support/stand-in-host";

const root = mkdtempSync(path.join(tmpdir(), "twarga-vms-"));
process.env.VM_ROOT = path.join(root, "vms");
process.env.VAGRANT_HOME = path.join(root, "vagrant.d");
process.env.FAKE_VAGRANT_CONTROL = path.join(root, "fake-vagrant.json");
writeFileSync(process.env.FAKE_VAGRANT_CONTROL, "{}");

import type { Db } from "../../../src/server/db/client";
import type { Actor } from "../../../src/server/permissions";
import { ensureDefaultCatalog } from "../../../src/server/vms/catalog";

/** Tells the stand-in vagrant how to behave for every VM (see its header). */
export function controlFakeVagrant(control: Record<string, Record<string, unknown>>): void {
  writeFileSync(process.env.FAKE_VAGRANT_CONTROL!, JSON.stringify(control));
}

export async function makeUser(db: Db, email: string, role: "USER" | "ADMIN" = "USER"): Promise<Actor> {
  const u = await db.user.create({ data: { email, role } });
  return { id: u.id, email: u.email, role: u.role };
}

/** The stand-in's test box (not in the default catalog: test data stays in the tests), next to the seeded defaults. */
export async function tinyBox(db: Db) {
  await ensureDefaultCatalog(db);
  const box = { name: "local/tiny", displayName: "Debian 12 minimal (tiny)", osFamily: "debian", minCpus: 1, minRamMb: 512, minDiskGb: 10 };
  return db.box.upsert({ where: { name: box.name }, create: box, update: {} });
}

/** The argument arrays the stand-in received in a VM folder, in order. */
export function fakeCalls(folder: string): string[][] {
  const file = path.join(folder, ".vagrant/fake-calls.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as string[]);
}

export async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000, label = "condition"): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const noRequest = { sourceIp: null, userAgent: null };

/** SQLite by default; VMS_TEST_PROVIDER=postgresql (with TEST_POSTGRES_URL) runs the same tests on PostgreSQL. */
export const testDbProvider: "sqlite" | "postgresql" = process.env.VMS_TEST_PROVIDER === "postgresql" ? "postgresql" : "sqlite";
