// The app's data is the team's: the database (sessions, tokens, events),
// .env (AUTH_SECRET, OAuth secrets) and every VM folder (each VM's own SSH
// key). Other accounts on the host must not read any of it. Checked at every
// start and tightened where looser, saying what was changed.
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { providerOf, sqlitePath } from "./db/client";
import type { Env } from "./env";
import { vmRoot } from "./folders";

/** Makes `target` no more open than `mode`; returns a line when it changed something. */
async function tighten(target: string, mode: number): Promise<string | null> {
  if (!existsSync(target)) return null;
  const current = (await stat(target)).mode & 0o777;
  if ((current & ~mode) === 0) return null;
  await chmod(target, current & mode);
  return `${target}: ${current.toString(8).padStart(4, "0")} -> ${(current & mode).toString(8).padStart(4, "0")}`;
}

export async function secureDataFiles(e: Env, cwd = process.cwd()): Promise<string[]> {
  const dataDir = path.resolve(cwd, e.DATA_DIR);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const targets: [string, number][] = [
    [dataDir, 0o700],
    [path.join(cwd, ".env"), 0o600],
  ];
  const root = vmRoot(e);
  targets.push([root, 0o700]);
  if (existsSync(root)) for (const name of readdirSync(root)) targets.push([path.join(root, name), 0o700]);
  if (providerOf(e.DATABASE_URL) === "sqlite") {
    const file = sqlitePath(e.DATABASE_URL);
    for (const suffix of ["", "-wal", "-shm", "-journal"]) targets.push([`${file}${suffix}`, 0o600]);
  }
  const changed: string[] = [];
  for (const [target, mode] of targets) {
    const line = await tighten(target, mode);
    if (line) changed.push(line);
  }
  return changed;
}
