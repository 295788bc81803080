// The job queue against the stand-in vagrant, a real database and real child
// processes: stopping work never waits behind starting work, one owner's many
// launches do not starve another's, the first creates of a box do not race on
// its upload into the pool, an admin can move an entry, and a queued job knows
// its place and when it should start.
import { controlFakeVagrant, makeUser, noRequest, testDbProvider, tinyBox, waitFor } from "./harness";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { createCaller } from "~/server/api/root";
import type { Actor } from "~/server/permissions";
import { stopAllRunningVms } from "~/server/vms/admin-actions";
import { cancelJob } from "~/server/vms/cancel";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { laneLimits } from "~/server/vms/job-queue";
import { queuePlaceOfVm } from "~/server/vms/queue-position";
import { setUserQuota } from "~/server/vms/quotas";
import { VmJobRunner } from "~/server/vms/runner";
import { renderVagrantfile } from "~/server/vms/vagrantfile";

let t: TestDb;
let runner: VmJobRunner | null = null;
let boxId: string;
let n = 0;
const spec = (box = boxId) => ({ name: `q-${++n}`, boxId: box, cpus: 1, ramMb: 512, diskGb: 10 });

beforeEach(async () => {
  // A database per test: jobs one test leaves queued must not run in the next.
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  controlFakeVagrant({});
});
afterEach(async () => {
  await runner?.stop();
  runner = null;
  await t.close();
});

type Launched = Awaited<ReturnType<typeof createVm>>;
const startRunner = (maxParallel: number) => (runner = new VmJobRunner(t.db, { pollMs: 50, maxParallel }).start());
const jobOf = (id: string) => t.db.vmJob.findUniqueOrThrow({ where: { id } });
const countJobs = (state: "QUEUED" | "RUNNING") => t.db.vmJob.count({ where: { state } });

async function roomyUser(email: string, role: "USER" | "ADMIN" = "USER"): Promise<Actor> {
  const user = await makeUser(t.db, email, role);
  await setUserQuota(t.db, user.id, { maxVms: 30, maxCpus: 30, maxRamMb: 30 * 1024, maxDiskGb: 1000, maxRunning: 30 });
  return user;
}

/** A create of the tiny box that succeeded, so its image counts as in the pool (later creates of it run side by side). */
async function primeBox(owner: Actor, r: VmJobRunner) {
  const made = await createVm(t.db, owner, spec(), noRequest);
  await r.idle();
  expect((await jobOf(made.job.id)).state).toBe("SUCCEEDED");
  return made.vm;
}

describe("stopping work has its own lane", () => {
  it("a destroy starts within 5 s while 2 slow creates run and 5 wait", async () => {
    const alice = await roomyUser("alice@example.com");
    const bob = await roomyUser("bob@example.com");
    const r = startRunner(2);
    const target = await primeBox(alice, r);

    controlFakeVagrant({ up: { delayMs: 300 } }); // a create now takes several seconds
    for (let i = 0; i < 7; i++) await createVm(t.db, i % 2 ? bob : alice, spec(), noRequest);
    await waitFor(async () => (await countJobs("RUNNING")) === 2 && (await countJobs("QUEUED")) === 5, 10_000, "2 creates running and 5 queued");

    const destroy = await requestVmOperation(t.db, alice, target.id, "destroy", { confirmName: target.name }, noRequest);
    const started = await waitFor(async () => (await jobOf(destroy.id)).startedAt, 5_000, "the destroy to start");
    expect(started.getTime() - destroy.createdAt.getTime()).toBeLessThan(5_000);
    const done = await waitFor(async () => {
      const j = await jobOf(destroy.id);
      return j.finishedAt ? j : null;
    }, 10_000);
    expect(done.state).toBe("SUCCEEDED");
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: target.id } })).state).toBe("DESTROYED");
    // It went ahead of the queue: most creates are still waiting or running.
    expect((await countJobs("QUEUED")) + (await countJobs("RUNNING"))).toBeGreaterThanOrEqual(5);
  });
});

describe("the admin's stop-all", () => {
  it("its stops start at once while the starting lane is full and launches wait", async () => {
    const alice = await roomyUser("alice@example.com");
    const admin = await roomyUser("root@example.com", "ADMIN");
    const r = startRunner(2);
    const up = await primeBox(alice, r);
    controlFakeVagrant({ up: { delayMs: 300 } });
    for (let i = 0; i < 5; i++) await createVm(t.db, alice, spec(), noRequest);
    await waitFor(async () => (await countJobs("RUNNING")) === 2 && (await countJobs("QUEUED")) === 3, 10_000, "2 creates running and 3 queued");

    const { requested } = await stopAllRunningVms(t.db, admin, "maintenance", noRequest);
    expect(requested).toEqual([up.id]);
    const stop = await t.db.vmJob.findFirstOrThrow({ where: { vmId: up.id, kind: "STOP" } });
    const started = await waitFor(async () => (await jobOf(stop.id)).startedAt, 5_000, "the stop to start");
    expect(started.getTime() - stop.createdAt.getTime()).toBeLessThan(5_000);
    expect(await countJobs("QUEUED")).toBeGreaterThanOrEqual(1);
  });
});

describe("fairness", () => {
  it("one owner's 10 queued launches do not starve another owner's single launch", async () => {
    const alice = await roomyUser("alice@example.com");
    const bob = await roomyUser("bob@example.com");
    const r = startRunner(1);
    await primeBox(bob, r);
    controlFakeVagrant({ up: { delayMs: 40 } });
    const alices: Launched[] = [];
    for (let i = 0; i < 10; i++) alices.push(await createVm(t.db, alice, spec(), noRequest));
    const bobs = await createVm(t.db, bob, spec(), noRequest);

    // Bob's launch is served right after the launch of Alice's that was first in line, not after all ten.
    await waitFor(async () => (await jobOf(bobs.job.id)).startedAt, 30_000, "bob's launch to start");
    const started = await t.db.vmJob.findMany({
      where: { kind: "CREATE", startedAt: { not: null } },
      orderBy: { startedAt: "asc" },
      select: { id: true },
    });
    const order = started.map((j) => j.id).filter((id) => id !== started[0]!.id); // the prime launch first
    expect(order.indexOf(bobs.job.id)).toBe(1);

    // Alice's waiting launches can be cancelled at once; the queue empties.
    for (const m of alices) {
      const j = await jobOf(m.job.id);
      if (j.state === "QUEUED") expect((await cancelJob(t.db, alice, j.id, noRequest)).outcome).toBe("cancelled");
    }
    await r.idle();
    expect((await jobOf(bobs.job.id)).state).toBe("SUCCEEDED");
  });
});

describe("the first launch of a box", () => {
  async function freshBox(name: string) {
    return t.db.box.create({ data: { name, displayName: name, osFamily: "debian" } });
  }

  it("the stand-in shows the race: two first ups of a box at once, and one gets a half-written disk", async () => {
    controlFakeVagrant({ up: { uploadMs: 1500 } });
    const folders = [1, 2].map((i) => {
      const folder = mkdtempSync(path.join(tmpdir(), `twarga-race-${i}-`));
      const vagrantfile = renderVagrantfile({
        vmId: `race${i}aaaaaaaa`,
        boxName: "local/racy",
        hostname: `race-${i}`,
        cpus: 1,
        ramMb: 512,
        diskGb: 10,
        driver: "qemu",
        libvirtUri: "qemu:///system",
      });
      writeFileSync(path.join(folder, "Vagrantfile"), vagrantfile);
      return folder;
    });
    const ups = await Promise.all(
      folders.map((cwd) => execa(process.env.VAGRANT_BIN!, ["up", "--provider=libvirt", "--machine-readable"], { cwd, reject: false })),
    );
    expect(ups.map((u) => u.exitCode).sort()).toEqual([0, 1]);
    expect(ups.find((u) => u.exitCode === 1)!.stderr).toContain("EXT4-fs (vda2): error loading journal");
    await Promise.all(folders.map((cwd) => execa(process.env.VAGRANT_BIN!, ["destroy", "-f"], { cwd, reject: false })));
  });

  it("through the queue, the first create of a box runs alone and the others follow it", async () => {
    const alice = await roomyUser("alice@example.com");
    const fresh = await freshBox("local/fresh");
    controlFakeVagrant({ up: { uploadMs: 1500 } });
    const r = startRunner(3);
    const made: Launched[] = [];
    for (let i = 0; i < 3; i++) made.push(await createVm(t.db, alice, spec(fresh.id), noRequest));
    await r.idle();
    const jobs = await Promise.all(made.map((m) => jobOf(m.job.id)));
    for (const j of jobs) expect(j.state).toBe("SUCCEEDED");
    const uploads = jobs.filter((j) => j.output.includes("Uploading base box image as volume into Libvirt storage..."));
    expect(uploads).toHaveLength(1);
    const first = uploads[0]!;
    for (const j of jobs.filter((x) => x.id !== first.id)) expect(j.startedAt!.getTime()).toBeGreaterThanOrEqual(first.finishedAt!.getTime());
    // Once the image is in the pool, creates of the box run side by side again.
    const [a, b] = jobs.filter((x) => x.id !== first.id);
    expect(a!.startedAt!.getTime()).toBeLessThan(b!.finishedAt!.getTime());
    expect(b!.startedAt!.getTime()).toBeLessThan(a!.finishedAt!.getTime());
  });
});

describe("visible waiting and the admin's queue", () => {
  it("a queued job has a place and an estimate from recent durations; an admin moves and cancels entries", async () => {
    const alice = await roomyUser("alice@example.com");
    const bob = await roomyUser("bob@example.com");
    const carol = await roomyUser("carol@example.com");
    const admin = await roomyUser("root@example.com", "ADMIN");
    const r = startRunner(1);
    const primed = await primeBox(alice, r);
    // This host's history: creates that took 10, 20 and 30 s.
    const now = Date.now();
    for (const s of [10, 20, 30])
      await t.db.vmJob.create({
        data: { vmId: primed.id, kind: "CREATE", state: "SUCCEEDED", startedAt: new Date(now - 100_000), finishedAt: new Date(now - 100_000 + s * 1000) },
      });
    await r.stop();
    runner = null;

    // No runner: three launches wait, one per owner. Alice was served last (the prime launch), so Bob and Carol go first.
    const owners = [alice, bob, carol];
    const made: Launched[] = [];
    for (const owner of owners) made.push(await createVm(t.db, owner, spec(), noRequest));
    const line = [made[1]!, made[2]!, made[0]!];
    const places = await Promise.all(line.map((m) => queuePlaceOfVm(t.db, owners[made.indexOf(m)]!, m.vm.id)));
    expect(places.map((p) => p!.position)).toEqual([1, 2, 3]);
    expect(places.map((p) => p!.lane)).toEqual(["starting", "starting", "starting"]);
    // The median of the prime create (a second or two) and the three above: (10 s + 20 s) / 2.
    expect(places[0]!.duration).toEqual({ ms: 15_000, samples: 4 });
    // Each waits for the ones ahead in the lane's slots (from this host's cores and memory), at the usual duration.
    const usual = 15_000;
    const slots = laneLimits().starting;
    expect(places.map((p) => p!.startsInMs)).toEqual([0, 1, 2].map((k) => Math.floor(k / slots) * usual));
    expect(places[2]!.endsInMs).toBe((Math.floor(2 / slots) + 1) * usual);

    // Someone else's VM has no queue place to show them.
    const bobCaller = createCaller({ db: t.db, actor: bob, sourceIp: null, userAgent: "vitest" });
    await expect(bobCaller.vms.queuePlace({ id: made[0]!.vm.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(bobCaller.admin.queue()).rejects.toMatchObject({ code: "FORBIDDEN" });

    const adminCaller = createCaller({ db: t.db, actor: admin, sourceIp: "203.0.113.5", userAgent: "vitest" });
    const before = await adminCaller.admin.queue();
    expect(before.queued.map((j) => j.id)).toEqual(line.map((m) => m.job.id));
    expect(before.limits).toEqual({ starting: slots, stopping: Math.max(4, 2 * slots) });

    await adminCaller.admin.queueMove({ jobId: line[2]!.job.id, to: "front" });
    await adminCaller.admin.queueCancel({ jobId: line[1]!.job.id });
    const after = await adminCaller.admin.queue();
    expect(after.queued.map((j) => j.id)).toEqual([line[2]!.job.id, line[0]!.job.id]);
    expect(after.queued[0]!.place!.position).toBe(1);
    expect((await jobOf(line[1]!.job.id)).state).toBe("CANCELLED");
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: line[1]!.vm.id } })).state).toBe("DESTROYED");
    const audit = await t.db.auditLog.findMany({ where: { actorId: admin.id }, orderBy: { createdAt: "asc" } });
    expect(audit.map((a) => a.action)).toEqual(["admin.queueMove", "admin.queueCancel"]);

    // The moved job is the one the runner takes next.
    const r2 = startRunner(1);
    await waitFor(async () => (await jobOf(line[2]!.job.id)).startedAt, 10_000, "the moved job to start");
    expect((await jobOf(line[0]!.job.id)).state).toBe("QUEUED");
    await r2.idle();
  });
});
