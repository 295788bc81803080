// An admin adds a Vagrant box to this host from a file on the host or an http(s) URL:
// `vagrant box add --machine-readable --name <name> <path|url>` under the app's
// VAGRANT_HOME, run in the background. A box is hundreds of MB, so the progress
// vagrant prints ("Progress: 42% (Rate: ...)") goes into the BoxAdd row, which any
// replica's Admin → Catalog can read. Only admins start or see adds.
import { accessSync, constants, mkdirSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { DomainError, conflict } from "../errors";
import { recordEvent } from "../events/record";
import { vagrantHome } from "../folders";
import { assertAdmin, type Actor } from "../permissions";
import { installedBoxes } from "../vms/installed-boxes";
import { commandOutcome, humanText, parseMachineReadableLine } from "../vms/machine-readable";
import { runVagrant } from "../vms/vagrant-cli";
import { boxFieldsSchema } from "./catalog";

export const boxAddSchema = z.object({
  source: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("path"), path: z.string().trim().min(1).max(1024) }),
    z.object({
      kind: z.literal("url"),
      url: z
        .string()
        .trim()
        .max(2048)
        .refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), "must be an http(s) URL"),
    }),
  ]),
  name: boxFieldsSchema.shape.name,
});
export type BoxAddInput = z.infer<typeof boxAddSchema>;

/** A box add takes at most this long; a RUNNING row older than that was left by a process that died. */
const BOX_ADD_TIMEOUT_MS = 2 * 60 * 60 * 1000;
/** How much of vagrant's output the row keeps (its tail), and how often progress is written at most. */
const OUTPUT_KEEP_CHARS = 4000;
const PROGRESS_WRITE_MS = 500;

const badRequest = (message: string) => new DomainError("BAD_REQUEST", message);

/**
 * The file a path names, checked before vagrant runs: absolute, already normal (no `..` or `.` parts, no
 * doubled slashes), a regular file (after symlinks), readable by this process.
 */
export function checkedBoxFile(p: string): string {
  if (!path.isAbsolute(p)) throw badRequest("The box file's path must be absolute.");
  if (path.normalize(p) !== p || p.split("/").includes("..")) throw badRequest("The box file's path must not contain '..', '.' or doubled slashes.");
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    throw badRequest(`There is no file at ${p}.`);
  }
  if (!statSync(real).isFile()) throw badRequest(`${p} is not a regular file.`);
  try {
    accessSync(real, constants.R_OK);
  } catch {
    throw badRequest(`${p} is not readable by the app.`);
  }
  return real;
}

/** The percent from a `ui,detail,Progress: 42% (Rate: ...)` line, or null. */
export function progressPercent(text: string): number | null {
  const m = /^Progress: (\d{1,3})%/.exec(text.trim());
  return m ? Math.min(100, Number(m[1])) : null;
}

/**
 * Starts an add and returns its row at once; `finished` settles when vagrant is done and the row says how it
 * went. A second add of a name while one runs is refused.
 */
export async function addBox(db: Db, actor: Actor, input: BoxAddInput, e: Env = env()) {
  assertAdmin(actor);
  const source = input.source.kind === "path" ? checkedBoxFile(input.source.path) : input.source.url;
  const running = await db.boxAdd.findFirst({
    where: { name: input.name, state: "RUNNING", startedAt: { gt: new Date(Date.now() - BOX_ADD_TIMEOUT_MS) } },
  });
  if (running) throw conflict(`${input.name} is already being added (since ${running.startedAt.toISOString()}).`);
  const add = await db.boxAdd.create({
    data: { name: input.name, sourceKind: input.source.kind, source, state: "RUNNING", requestedById: actor.id, requestedByEmail: actor.email },
  });
  const finished = runAdd(db, actor, add.id, input.name, source, e);
  return { add, finished };
}

async function runAdd(db: Db, actor: Actor, id: string, name: string, source: string, e: Env) {
  const home = vagrantHome(e);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  let output = "";
  let progress = 0;
  let lastWrite = 0;
  let writing: Promise<unknown> = Promise.resolve();
  const flush = () => {
    lastWrite = Date.now();
    const data = { progress, output: output.slice(-OUTPUT_KEEP_CHARS) };
    writing = writing.then(() => db.boxAdd.update({ where: { id }, data }).catch(() => undefined));
  };
  let state: "SUCCEEDED" | "FAILED" = "FAILED";
  let error: string | null = null;
  try {
    const result = await runVagrant(
      {
        args: ["box", "add", "--machine-readable", "--name", name, source],
        cwd: home,
        timeoutMs: BOX_ADD_TIMEOUT_MS,
        onLine: (line) => {
          const record = parseMachineReadableLine(line);
          const text = record ? humanText(record) : line;
          if (text === null || text.trim() === "") return;
          const percent = progressPercent(text);
          if (percent !== null) progress = Math.max(progress, percent);
          output = `${output}${text.trim()}\n`.slice(-OUTPUT_KEEP_CHARS);
          if (Date.now() - lastWrite >= PROGRESS_WRITE_MS) flush();
        },
      },
      e,
    );
    const outcome = commandOutcome(result);
    if (outcome.ok) state = "SUCCEEDED";
    else error = result.timedOut ? "vagrant box add took too long and was stopped." : outcome.error;
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  await writing;
  if (state === "SUCCEEDED") {
    progress = 100;
    // Re-read what is installed now, so the catalog shows the new box with its size at once.
    await installedBoxes(e).catch(() => undefined);
  }
  const row = await db.boxAdd.update({ where: { id }, data: { state, progress, output: output.slice(-OUTPUT_KEEP_CHARS), error, endedAt: new Date() } });
  await recordEvent(db, {
    type: "admin",
    action: state === "SUCCEEDED" ? "box.add.succeeded" : "box.add.failed",
    severity: state === "SUCCEEDED" ? "INFO" : "WARNING",
    message: state === "SUCCEEDED" ? `Box ${name} was added from ${source}.` : `Adding box ${name} from ${source} failed: ${error ?? "unknown error"}`,
    actorId: actor.id,
    actorEmail: actor.email,
    details: { boxAddId: id, name, source, state, error },
  });
  return row;
}

/** The recent adds, newest first, for Admin → Catalog. */
export async function recentBoxAdds(db: Db, actor: Actor, take = 20) {
  assertAdmin(actor);
  return db.boxAdd.findMany({ orderBy: { startedAt: "desc" }, take });
}
