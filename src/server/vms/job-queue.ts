// Which queued job runs next. Two lanes with their own slots, so stopping work
// never waits behind starting work: stops and destroys (a few seconds of host
// work, and what frees the host) in one, creates, starts and restarts (a
// booting TCG guest takes about a core) in the other. Within a lane: an
// admin's move first (VmJob.priority), then round-robin by VM owner (each
// owner's next job ranks after the jobs that owner already has running or
// ahead in the queue; among equal ranks, the owner served longest ago goes
// first), then age. Until a create of a box has succeeded on this
// host, its creates run one at a time: the first one uploads the box's image
// into libvirt's pool, and a second create started meanwhile would build its
// disk from a half-written image.
import os from "node:os";
import type { VmJobKind } from "~/generated/prisma/sqlite/enums";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { conflict, notFound } from "../errors";
import { recordEvent } from "../events/record";
import { assertAdmin, type Actor } from "../permissions";
import { NO_REQUEST, type RequestInfo } from "../request-info";

export type Lane = "stopping" | "starting";

export const LANE_OF_KIND: Record<VmJobKind, Lane> = { STOP: "stopping", DESTROY: "stopping", CREATE: "starting", START: "starting", RESTART: "starting" };

/** What one booting guest costs this host: about one core under TCG, and its QEMU process's memory (docs/real-vm-timings.md). */
export const BYTES_PER_LAUNCH = 2 * 1024 ** 3;
/** Memory left to the host, the app and the database. */
export const HOST_RESERVED_BYTES = 2 * 1024 ** 3;

export interface HostSize {
  cores: number;
  memoryBytes: number;
}

export function thisHost(): HostSize {
  return { cores: os.availableParallelism(), memoryBytes: os.totalmem() };
}

/** How many creates, starts and restarts the host can take at once: one per core, as memory allows. */
export function hostParallelism(host: HostSize = thisHost()): number {
  const byMemory = Math.floor((host.memoryBytes - HOST_RESERVED_BYTES) / BYTES_PER_LAUNCH);
  return Math.max(1, Math.min(host.cores, byMemory, 32));
}

export type LaneLimits = Record<Lane, number>;

/** The starting lane's slots (VM_MAX_PARALLEL_JOBS, else from the host) and the stopping lane's: twice that, at least 4. */
export function laneLimits(e: Env = env(), starting: number = e.VM_MAX_PARALLEL_JOBS ?? hostParallelism()): LaneLimits {
  return { starting, stopping: Math.max(4, 2 * starting) };
}

/** A queued job as the selection sees it. */
export interface QueuedJob {
  id: string;
  kind: VmJobKind;
  createdAt: Date;
  priority: number;
  ownerId: string;
  boxId: string;
}

/** A running job as the selection sees it. */
export interface RunningJob {
  id: string;
  kind: VmJobKind;
  ownerId: string;
  boxId: string;
}

const byAge = (a: QueuedJob, b: QueuedJob) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** When each owner's latest job in each lane started (key: laneKey), for the round-robin's turn order. */
export type LastStarts = ReadonlyMap<string, number>;
export const laneKey = (lane: Lane, ownerId: string) => `${lane}:${ownerId}`;

/**
 * One lane's queue in the order it will be served. An owner's n-th queued job
 * ranks n + (their jobs running in the lane), so one owner's ten launches
 * interleave with everybody else's instead of going first; between owners of
 * equal rank, the one whose last job started longest ago (or never) goes first.
 */
export function orderLane(queued: QueuedJob[], running: RunningJob[], lastStarts: LastStarts = new Map(), lane: Lane = "starting"): QueuedJob[] {
  const held = new Map<string, number>();
  for (const r of running) held.set(r.ownerId, (held.get(r.ownerId) ?? 0) + 1);
  const rank = new Map<string, number>();
  for (const job of [...queued].sort((a, b) => b.priority - a.priority || byAge(a, b))) {
    const n = held.get(job.ownerId) ?? 0;
    rank.set(job.id, n);
    held.set(job.ownerId, n + 1);
  }
  const turn = (j: QueuedJob) => lastStarts.get(laneKey(lane, j.ownerId)) ?? -Infinity;
  return [...queued].sort((a, b) => b.priority - a.priority || rank.get(a.id)! - rank.get(b.id)! || turn(a) - turn(b) || byAge(a, b));
}

/** The whole queue, lane by lane, in serving order. */
export function orderQueue(queued: QueuedJob[], running: RunningJob[], lastStarts: LastStarts = new Map()): Record<Lane, QueuedJob[]> {
  const inLane = <T extends { kind: VmJobKind }>(rows: T[], lane: Lane) => rows.filter((j) => LANE_OF_KIND[j.kind] === lane);
  return {
    stopping: orderLane(inLane(queued, "stopping"), inLane(running, "stopping"), lastStarts, "stopping"),
    starting: orderLane(inLane(queued, "starting"), inLane(running, "starting"), lastStarts, "starting"),
  };
}

/**
 * The jobs to start now, in order: the head of each lane up to its free slots,
 * skipping a create whose box is not yet in the pool while another create of
 * that box runs or was picked before it (it stays first in line for later).
 */
export function pickJobsToStart(
  queued: QueuedJob[],
  running: RunningJob[],
  limits: LaneLimits,
  boxesInPool: ReadonlySet<string>,
  lastStarts: LastStarts = new Map(),
): QueuedJob[] {
  const ordered = orderQueue(queued, running, lastStarts);
  const uploading = new Set(running.filter((r) => r.kind === "CREATE" && !boxesInPool.has(r.boxId)).map((r) => r.boxId));
  const picked: QueuedJob[] = [];
  for (const lane of ["stopping", "starting"] as const) {
    let free = limits[lane] - running.filter((r) => LANE_OF_KIND[r.kind] === lane).length;
    for (const job of ordered[lane]) {
      if (free <= 0) break;
      if (job.kind === "CREATE" && !boxesInPool.has(job.boxId)) {
        if (uploading.has(job.boxId)) continue;
        uploading.add(job.boxId);
      }
      picked.push(job);
      free--;
    }
  }
  return picked;
}

const JOB_FIELDS = { id: true, kind: true, createdAt: true, priority: true, startedAt: true, vm: { select: { ownerId: true, boxId: true } } } as const;

type JobRow = { id: string; kind: VmJobKind; createdAt: Date; priority: number; startedAt: Date | null; vm: { ownerId: string; boxId: string } };
const flatten = (r: JobRow) => ({
  id: r.id,
  kind: r.kind,
  createdAt: r.createdAt,
  priority: r.priority,
  startedAt: r.startedAt,
  ownerId: r.vm.ownerId,
  boxId: r.vm.boxId,
});

/** How many recently started jobs the round-robin looks back over. */
const TURN_HISTORY = 200;

/** Every queued and running job of this database, flattened for the selection, and each owner's last start per lane. */
export async function readQueue(db: Db) {
  const [queued, running, recent] = await Promise.all([
    db.vmJob.findMany({ where: { state: "QUEUED" }, select: JOB_FIELDS }),
    db.vmJob.findMany({ where: { state: "RUNNING" }, select: JOB_FIELDS }),
    db.vmJob.findMany({ where: { startedAt: { not: null } }, orderBy: { startedAt: "desc" }, take: TURN_HISTORY, select: JOB_FIELDS }),
  ]);
  const lastStarts = new Map<string, number>();
  for (const r of recent) {
    const key = laneKey(LANE_OF_KIND[r.kind], r.vm.ownerId);
    if (!lastStarts.has(key)) lastStarts.set(key, r.startedAt!.getTime());
  }
  return { queued: queued.map(flatten), running: running.map(flatten), lastStarts };
}

/**
 * Boxes whose image is in libvirt's pool: a create, start or restart of a VM
 * of that box has succeeded on this host (the job history is the marker).
 */
export async function boxesWithImageInPool(db: Db, boxIds: string[]): Promise<Set<string>> {
  if (boxIds.length === 0) return new Set();
  const rows = await db.vm.findMany({
    where: { boxId: { in: [...new Set(boxIds)] }, jobs: { some: { kind: { in: ["CREATE", "START", "RESTART"] }, state: "SUCCEEDED" } } },
    select: { boxId: true },
    distinct: ["boxId"],
  });
  return new Set(rows.map((r) => r.boxId));
}

/** The queued jobs the runner should claim now (it claims each with a compare-and-set). */
export async function jobsToClaim(db: Db, limits: LaneLimits): Promise<QueuedJob[]> {
  // The runner asks on every poll and wake: with nothing queued that costs one small query, not readQueue's six statements.
  if (!(await db.vmJob.findFirst({ where: { state: "QUEUED" }, select: { id: true } }))) return [];
  const { queued, running, lastStarts } = await readQueue(db);
  if (queued.length === 0) return [];
  const creates = [...queued, ...running].filter((j) => j.kind === "CREATE").map((j) => j.boxId);
  return pickJobsToStart(queued, running, limits, await boxesWithImageInPool(db, creates), lastStarts);
}

/**
 * An admin moves a queued job to the front of its lane (it runs next) or to
 * the back (everything queued now runs first). Jobs nobody moved keep
 * priority 0 and their fair order among themselves.
 */
export async function moveQueuedJob(db: Db, admin: Actor, jobId: string, to: "front" | "back", request: RequestInfo = NO_REQUEST) {
  assertAdmin(admin);
  const job = await db.vmJob.findUnique({ where: { id: jobId }, include: { vm: { select: { name: true, ownerId: true } } } });
  if (!job) throw notFound("Job");
  if (job.state !== "QUEUED") throw conflict(`That job is no longer queued (${job.state.toLowerCase()}).`);
  const lane = LANE_OF_KIND[job.kind];
  const others = await db.vmJob.aggregate({
    where: { state: "QUEUED", kind: { in: (Object.keys(LANE_OF_KIND) as VmJobKind[]).filter((k) => LANE_OF_KIND[k] === lane) }, id: { not: jobId } },
    _max: { priority: true },
    _min: { priority: true },
  });
  const priority = to === "front" ? Math.max(0, others._max.priority ?? 0) + 1 : Math.min(0, others._min.priority ?? 0) - 1;
  const moved = await db.vmJob.updateMany({ where: { id: jobId, state: "QUEUED" }, data: { priority } });
  if (moved.count === 0) throw conflict("That job has just started or been cancelled.");
  await recordEvent(db, {
    type: "admin",
    action: "vm.job.moved",
    message: `${admin.email} moved the queued ${job.kind.toLowerCase()} of ${job.vm.name} to the ${to} of the queue.`,
    actorId: admin.id,
    actorEmail: admin.email,
    targetUserId: job.vm.ownerId,
    targetVmId: job.vmId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { jobId, kind: job.kind, lane, to, priority, before: job.priority },
  });
  return { jobId, priority };
}
