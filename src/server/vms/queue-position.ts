// Where a queued job stands: its place in its lane (job-queue.ts's serving
// order) and when it should start and end, from how long the same kind of
// operation recently took on this host. The estimate replays the lane: each
// slot frees when its running job has had its usual time, and each job ahead
// takes the next free slot for its own kind's usual time.
import type { VmJobKind } from "~/generated/prisma/sqlite/enums";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { assertAdmin, type Actor } from "../permissions";
import { hostParallelism, LANE_OF_KIND, laneLimits, orderQueue, readQueue, thisHost, type Lane, type LaneLimits } from "./job-queue";
import { loadVisibleVm } from "./lifecycle";

/** How many of the latest successful jobs of a kind make its usual duration. */
export const DURATION_SAMPLES = 20;

export interface KindDuration {
  /** The median of the recent durations; null when none finished yet. */
  ms: number | null;
  samples: number;
}

export interface QueuePlace {
  jobId: string;
  lane: Lane;
  /** 1 = next in its lane. */
  position: number;
  /** Queued jobs ahead of it in its lane. */
  ahead: number;
  /** From now; null when a duration it depends on is unknown (no such job finished on this host yet). */
  startsInMs: number | null;
  endsInMs: number | null;
  /** The usual duration of its own kind. */
  duration: KindDuration;
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
};

/** The usual duration of each kind: the median of its last DURATION_SAMPLES successful runs. */
export async function recentDurations(db: Db): Promise<Record<VmJobKind, KindDuration>> {
  const kinds: VmJobKind[] = ["CREATE", "START", "STOP", "RESTART", "DESTROY"];
  const rows = await Promise.all(
    kinds.map((kind) =>
      db.vmJob.findMany({
        where: { kind, state: "SUCCEEDED", startedAt: { not: null }, finishedAt: { not: null } },
        orderBy: { finishedAt: "desc" },
        take: DURATION_SAMPLES,
        select: { startedAt: true, finishedAt: true },
      }),
    ),
  );
  const result = {} as Record<VmJobKind, KindDuration>;
  kinds.forEach((kind, i) => {
    const ms = rows[i]!.map((r) => r.finishedAt!.getTime() - r.startedAt!.getTime()).filter((d) => d >= 0);
    result[kind] = { ms: ms.length ? median(ms) : null, samples: ms.length };
  });
  return result;
}

interface Running {
  kind: VmJobKind;
  startedAt: Date | null;
}

/** Places in one lane, given its serving order, its running jobs and its number of slots. */
export function placesInLane(
  ordered: { id: string; kind: VmJobKind }[],
  running: Running[],
  slots: number,
  durations: Record<VmJobKind, KindDuration>,
  now: Date,
): Omit<QueuePlace, "lane">[] {
  // When each slot frees, in ms from now; NaN once something unknown is in the way.
  const free: number[] = running.map((r) => {
    const usual = durations[r.kind].ms;
    if (usual === null) return NaN;
    return Math.max(0, usual - (r.startedAt ? now.getTime() - r.startedAt.getTime() : 0));
  });
  while (free.length < slots) free.push(0);
  return ordered.map((job, index) => {
    // The earliest slot (an unknown one counts as never known).
    let best = 0;
    for (let i = 1; i < free.length; i++) if (Number.isNaN(free[best]!) || free[i]! < free[best]!) best = i;
    const startsIn = free[best] ?? NaN;
    const own = durations[job.kind].ms;
    const endsIn = own === null || Number.isNaN(startsIn) ? NaN : startsIn + own;
    free[best] = endsIn;
    const known = (v: number) => (Number.isNaN(v) ? null : v);
    return { jobId: job.id, position: index + 1, ahead: index, startsInMs: known(startsIn), endsInMs: known(endsIn), duration: durations[job.kind] };
  });
}

/** Every queued job's place, by job id. */
export async function queuePlaces(db: Db, e: Env = env(), limits: LaneLimits = laneLimits(e), now = new Date()): Promise<Map<string, QueuePlace>> {
  const { queued, running, lastStarts } = await readQueue(db);
  const places = new Map<string, QueuePlace>();
  if (queued.length === 0) return places;
  const durations = await recentDurations(db);
  const ordered = orderQueue(queued, running, lastStarts);
  for (const lane of ["stopping", "starting"] as const) {
    const inLane = running.filter((r) => LANE_OF_KIND[r.kind] === lane);
    for (const place of placesInLane(ordered[lane], inLane, limits[lane], durations, now)) places.set(place.jobId, { ...place, lane });
  }
  return places;
}

/** The place of a VM's queued job, for its page; null when it has no queued job. */
export async function queuePlaceOfVm(db: Db, actor: Actor, vmId: string, e: Env = env()): Promise<QueuePlace | null> {
  await loadVisibleVm(db, actor, vmId);
  const job = await db.vmJob.findFirst({ where: { vmId, state: "QUEUED" }, select: { id: true } });
  if (!job) return null;
  return (await queuePlaces(db, e)).get(job.id) ?? null;
}

/** The admin's view of the whole queue: what runs, what waits in which order, and how many run at once. */
export async function listQueue(db: Db, admin: Actor, e: Env = env()) {
  assertAdmin(admin);
  const limits = laneLimits(e);
  const [places, rows] = await Promise.all([
    queuePlaces(db, e, limits),
    db.vmJob.findMany({
      where: { state: { in: ["QUEUED", "RUNNING"] } },
      orderBy: { createdAt: "asc" },
      select: {
        id: true,
        kind: true,
        state: true,
        priority: true,
        step: true,
        progress: true,
        createdAt: true,
        startedAt: true,
        requestedByEmail: true,
        cancelRequestedAt: true,
        vm: { select: { id: true, name: true, owner: { select: { email: true } }, box: { select: { displayName: true } } } },
      },
    }),
  ]);
  const jobs = rows.map(({ vm, ...job }) => ({
    ...job,
    lane: LANE_OF_KIND[job.kind],
    vmId: vm.id,
    vmName: vm.name,
    ownerEmail: vm.owner.email,
    boxName: vm.box.displayName,
    place: places.get(job.id) ?? null,
  }));
  const host = thisHost();
  return {
    limits,
    /** Where the starting lane's limit comes from. */
    limitSource: e.VM_MAX_PARALLEL_JOBS === undefined ? ("host" as const) : ("setting" as const),
    host: { cores: host.cores, memoryBytes: host.memoryBytes, parallelism: hostParallelism(host) },
    running: jobs.filter((j) => j.state === "RUNNING"),
    queued: jobs
      .filter((j) => j.state === "QUEUED")
      .sort((a, b) => (a.lane === b.lane ? (a.place?.position ?? Infinity) - (b.place?.position ?? Infinity) : a.lane === "stopping" ? -1 : 1)),
  };
}
