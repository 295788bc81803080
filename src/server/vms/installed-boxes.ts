// The boxes this host has installed: `vagrant box list --machine-readable`
// under the app's VAGRANT_HOME. Vagrant is a Ruby process that takes about half
// a second, so the answer is cached and asked again only when VAGRANT_HOME/boxes
// changes (its mtime and its box folders' mtimes: `box add` and `box remove`
// create or delete folders there). Size and date come from the box's own files.
import { mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { env, type Env } from "../env";
import { vagrantHome } from "../folders";
import { commandOutcome, parseMachineReadable } from "./machine-readable";
import { runVagrant } from "./vagrant-cli";

export interface InstalledBox {
  name: string;
  provider: string;
  version: string;
  /** Bytes of the box's files on disk (null when its folder is not where Vagrant keeps it). */
  sizeBytes: number | null;
  /** When the box's folder was written: when it was added. */
  addedAt: Date | null;
}

export interface InstalledBoxes {
  boxes: InstalledBox[];
  /** Why the list could not be read (the launch form then offers nothing), or null. */
  error: string | null;
}

/** Box name, provider and version from `vagrant box list --machine-readable` (box-name starts each box). */
export function parseBoxList(text: string): Array<{ name: string; provider: string; version: string }> {
  const boxes: Array<{ name: string; provider: string; version: string }> = [];
  for (const r of parseMachineReadable(text).records) {
    const value = r.data.join(",");
    if (r.type === "box-name") boxes.push({ name: value, provider: "", version: "" });
    const last = boxes[boxes.length - 1];
    if (!last) continue;
    if (r.type === "box-provider") last.provider = value;
    if (r.type === "box-version") last.version = value;
  }
  return boxes;
}

/** Vagrant's folder for a box: owner/name becomes owner-VAGRANTSLASH-name. */
function boxFolder(home: string, box: { name: string; version: string; provider: string }): string {
  return path.join(home, "boxes", box.name.replaceAll("/", "-VAGRANTSLASH-"), box.version, box.provider);
}

function onDisk(folder: string): { sizeBytes: number | null; addedAt: Date | null } {
  try {
    const files = readdirSync(folder, { withFileTypes: true });
    let size = 0;
    for (const f of files) if (f.isFile()) size += statSync(path.join(folder, f.name)).size;
    return { sizeBytes: size, addedAt: statSync(folder).mtime };
  } catch {
    return { sizeBytes: null, addedAt: null };
  }
}

/** What changes when a box is added or removed: the boxes folder and each box's folder (a new version is a new sub-folder). */
export function boxesStamp(home: string): string {
  const dir = path.join(home, "boxes");
  try {
    const parts = [String(Math.trunc(statSync(dir).mtimeMs))];
    for (const entry of readdirSync(dir).sort()) {
      try {
        parts.push(`${entry}:${Math.trunc(statSync(path.join(dir, entry)).mtimeMs)}`);
      } catch {
        // Removed between the listing and the stat: the next call sees a different stamp.
      }
    }
    return parts.join("|");
  } catch {
    return "absent";
  }
}

let cache: { home: string; stamp: string; value: InstalledBoxes } | null = null;
let inFlight: { home: string; stamp: string; promise: Promise<InstalledBoxes> } | null = null;

async function readInstalled(home: string, e: Env): Promise<InstalledBoxes> {
  // `box list` needs no project; VAGRANT_HOME itself is a folder that always exists for it.
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const result = await runVagrant({ args: ["box", "list", "--machine-readable"], cwd: home, timeoutMs: 60_000 }, e);
  const outcome = commandOutcome(result);
  if (!outcome.ok) return { boxes: [], error: `vagrant box list failed: ${outcome.error}` };
  return { boxes: parseBoxList(result.stdout).map((b) => ({ ...b, ...onDisk(boxFolder(home, b)) })), error: null };
}

/** The installed boxes, from the cache unless VAGRANT_HOME/boxes changed. A failed read is not cached. */
export async function installedBoxes(e: Env = env()): Promise<InstalledBoxes> {
  const home = vagrantHome(e);
  const stamp = boxesStamp(home);
  if (cache && cache.home === home && cache.stamp === stamp) return cache.value;
  if (inFlight && inFlight.home === home && inFlight.stamp === stamp) return inFlight.promise;
  const promise = readInstalled(home, e)
    .catch((err: unknown): InstalledBoxes => ({ boxes: [], error: `vagrant box list failed: ${err instanceof Error ? err.message : String(err)}` }))
    .then((value) => {
      if (value.error === null) cache = { home, stamp, value };
      return value;
    })
    .finally(() => {
      if (inFlight?.promise === promise) inFlight = null;
    });
  inFlight = { home, stamp, promise };
  return promise;
}

/** The names of the installed boxes that have a libvirt image (the only provider this app runs). */
export async function installedBoxNames(e: Env = env()): Promise<{ names: Set<string>; error: string | null }> {
  const { boxes, error } = await installedBoxes(e);
  return { names: new Set(boxes.filter((b) => b.provider === "libvirt").map((b) => b.name)), error };
}
