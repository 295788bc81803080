// A launch as the launch form asks for it: once per submit, and only of a box
// this host has installed. The form sends a key it generated for the submit; a
// second call with the same key by the same user (a double click, a retried
// request) gets the first call's VM instead of making another. The keys live in
// this process's memory and are kept 10 minutes (a key matters only for the
// seconds a double click or a retry takes): with several web replicas, a retry
// that a load balancer sends to another replica is not recognised.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { DomainError } from "../errors";
import type { Actor } from "../permissions";
import type { RequestInfo } from "../request-info";
import { installedBoxNames } from "./installed-boxes";
import { createVm } from "./lifecycle";

const KEEP_MS = 10 * 60_000;

interface Launch {
  at: number;
  result: Promise<{ id: string; jobId: string }>;
}

const launches = new Map<string, Launch>();

function prune(now: number): void {
  for (const [key, launch] of launches) if (now - launch.at > KEEP_MS) launches.delete(key);
}

/** Refuses a box that the catalog lists but this host does not have: the launch would only fail in the job. */
async function assertBoxInstalled(db: Db, boxId: unknown, e: Env): Promise<void> {
  if (typeof boxId !== "string") return; // createVm's schema refuses it with the right message
  const box = await db.box.findUnique({ where: { id: boxId }, select: { name: true, enabled: true } });
  if (!box?.enabled) return; // createVm says "not in the catalog"
  const installed = await installedBoxNames(e);
  if (installed.error === null && !installed.names.has(box.name))
    throw new DomainError(
      "BAD_REQUEST",
      `The box ${box.name} is not installed on this host, so it cannot be launched. An admin can add it under Admin → Catalog.`,
    );
}

export async function createVmOnce(
  db: Db,
  actor: Actor,
  input: { requestKey?: string | undefined } & Record<string, unknown>,
  request: RequestInfo,
  e: Env = env(),
) {
  const { requestKey, ...rest } = input;
  const run = async () => {
    await assertBoxInstalled(db, rest.boxId, e);
    const { vm, job } = await createVm(db, actor, rest, request, e);
    return { id: vm.id, jobId: job.id };
  };
  if (!requestKey) return run();
  const now = Date.now();
  prune(now);
  const key = `${actor.id}\n${requestKey}`;
  const earlier = launches.get(key);
  if (earlier) return earlier.result;
  const result = run();
  launches.set(key, { at: now, result });
  // A refused launch may be fixed and sent again with the same key: only a VM that was made is remembered.
  result.catch(() => launches.delete(key));
  return result;
}
