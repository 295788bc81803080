// The queue's rules as pure functions: parallelism from the host, lanes,
// round-robin by owner, admin moves, one first create per box, and the estimate.
import { describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { hostParallelism, laneKey, laneLimits, orderLane, pickJobsToStart, type QueuedJob, type RunningJob } from "~/server/vms/job-queue";
import { placesInLane } from "~/server/vms/queue-position";

const GiB = 1024 ** 3;
const t0 = Date.parse("2026-11-30T12:00:00Z");
let seq = 0;
const queued = (ownerId: string, kind: QueuedJob["kind"] = "CREATE", extra: Partial<QueuedJob> = {}): QueuedJob => ({
  id: `j${++seq}`,
  kind,
  createdAt: new Date(t0 + seq * 1000),
  priority: 0,
  ownerId,
  boxId: "box",
  ...extra,
});
const running = (ownerId: string, kind: RunningJob["kind"] = "CREATE", boxId = "box"): RunningJob => ({ id: `r${++seq}`, kind, ownerId, boxId });

describe("parallelism from the host", () => {
  it("one launch per core, as memory allows at 2 GiB per booting guest beside 2 GiB for the host", () => {
    expect(hostParallelism({ cores: 2, memoryBytes: 24 * GiB })).toBe(2); // the measured machine
    expect(hostParallelism({ cores: 16, memoryBytes: 8 * GiB })).toBe(3); // memory-bound
    expect(hostParallelism({ cores: 1, memoryBytes: 64 * GiB })).toBe(1);
    expect(hostParallelism({ cores: 8, memoryBytes: 1 * GiB })).toBe(1); // never below one
  });

  it("VM_MAX_PARALLEL_JOBS overrides it; the stopping lane gets twice as many, at least 4", () => {
    expect(laneLimits(parseEnv({ VM_MAX_PARALLEL_JOBS: "3" }))).toEqual({ starting: 3, stopping: 6 });
    expect(laneLimits(parseEnv({ VM_MAX_PARALLEL_JOBS: "1" }))).toEqual({ starting: 1, stopping: 4 });
    expect(laneLimits(parseEnv({})).starting).toBe(hostParallelism());
    expect(() => parseEnv({ VM_MAX_PARALLEL_JOBS: "0" })).toThrow(/VM_MAX_PARALLEL_JOBS/);
  });
});

describe("lanes", () => {
  it("stops and destroys start while the starting lane is full, whatever waits there", () => {
    const creates = [1, 2, 3, 4, 5].map(() => queued("alice"));
    const destroy = queued("bob", "DESTROY");
    const stop = queued("carol", "STOP");
    const picked = pickJobsToStart([...creates, destroy, stop], [running("alice"), running("bob")], { starting: 2, stopping: 4 }, new Set(["box"]));
    expect(picked.map((j) => j.id)).toEqual([destroy.id, stop.id]);
  });

  it("each lane is bounded by its own slots", () => {
    const stops = [1, 2, 3, 4, 5].map((i) => queued(`u${i}`, "STOP"));
    const picked = pickJobsToStart(stops, [running("x", "DESTROY")], { starting: 2, stopping: 4 }, new Set());
    expect(picked).toHaveLength(3);
  });
});

describe("fairness", () => {
  it("one owner's ten launches interleave with another's single launch", () => {
    const alices = Array.from({ length: 10 }, () => queued("alice"));
    const bobs = queued("bob");
    // Alice has one running: Bob's launch is next.
    expect(orderLane([...alices, bobs], [running("alice")])[0]!.id).toBe(bobs.id);
    // Nothing running, Alice served a moment ago: Bob first again.
    const lastStarts = new Map([[laneKey("starting", "alice"), t0]]);
    expect(orderLane([...alices, bobs], [], lastStarts)[0]!.id).toBe(bobs.id);
    // Nobody served yet: Alice's oldest, then Bob, then the rest of Alice's.
    expect(
      orderLane([...alices, bobs], [])
        .map((j) => j.id)
        .slice(0, 3),
    ).toEqual([alices[0]!.id, bobs.id, alices[1]!.id]);
  });

  it("an admin's move wins over the fair order", () => {
    const a = queued("alice");
    const b = queued("bob");
    const c = queued("alice", "CREATE", { priority: 1 });
    const d = queued("carol", "CREATE", { priority: -1 });
    // Alice's moved launch takes her turn, so her other one comes after Bob's; the one moved back goes last.
    expect(orderLane([d, a, b, c], []).map((j) => j.id)).toEqual([c.id, b.id, a.id, d.id]);
  });
});

describe("the first create of a box", () => {
  it("runs alone for its box until a create of it has succeeded; other boxes are not held", () => {
    const first = queued("alice", "CREATE", { boxId: "fresh" });
    const second = queued("bob", "CREATE", { boxId: "fresh" });
    const other = queued("carol", "CREATE", { boxId: "known" });
    const limits = { starting: 4, stopping: 4 };
    expect(pickJobsToStart([first, second, other], [], limits, new Set(["known"])).map((j) => j.id)).toEqual([first.id, other.id]);
    // While it uploads, the second waits even with free slots.
    expect(pickJobsToStart([second], [{ ...running("alice"), boxId: "fresh" }], limits, new Set())).toEqual([]);
    // Once the box is in the pool, creates of it run side by side.
    expect(pickJobsToStart([first, second], [], limits, new Set(["fresh"]))).toHaveLength(2);
    // A start of a VM of that box is not held (its disk exists already).
    expect(pickJobsToStart([queued("dave", "START", { boxId: "fresh" })], [{ ...running("alice"), boxId: "fresh" }], limits, new Set())).toHaveLength(1);
  });
});

describe("the estimate", () => {
  const durations = {
    CREATE: { ms: 40_000, samples: 5 },
    START: { ms: 30_000, samples: 3 },
    STOP: { ms: 18_000, samples: 4 },
    RESTART: { ms: null, samples: 0 },
    DESTROY: { ms: 2_000, samples: 2 },
  };
  const now = new Date(t0);

  it("replays the lane: a slot frees when its job has had its usual time, each job ahead takes the next free slot", () => {
    const jobs = [
      { id: "a", kind: "CREATE" as const },
      { id: "b", kind: "START" as const },
      { id: "c", kind: "CREATE" as const },
    ];
    // Two slots: one create running for 10 s (30 s left), one free.
    const places = placesInLane(jobs, [{ kind: "CREATE", startedAt: new Date(t0 - 10_000) }], 2, durations, now);
    expect(places.map((p) => [p.position, p.ahead, p.startsInMs, p.endsInMs])).toEqual([
      [1, 0, 0, 40_000],
      [2, 1, 30_000, 60_000],
      [3, 2, 40_000, 80_000],
    ]);
  });

  it("says it has no estimate when a duration it needs was never measured here", () => {
    const places = placesInLane(
      [
        { id: "r", kind: "RESTART" },
        { id: "s", kind: "START" },
      ],
      [],
      1,
      durations,
      now,
    );
    expect(places[0]).toMatchObject({ startsInMs: 0, endsInMs: null });
    expect(places[1]).toMatchObject({ startsInMs: null, endsInMs: null });
  });
});
