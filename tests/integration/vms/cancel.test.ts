// Cancel at each stage, and destroy in every state, against the stand-in
// vagrant with real processes: a queued create leaves nothing and gives its
// quota back at once; a running create's Vagrant process tree is ended, what
// it made (the domain, the guest) destroyed, and the VM is gone with an event.
import { controlFakeVagrant, fakeCalls, isAlive, makeUser, noRequest, testDbProvider, tinyBox, waitFor } from "./harness";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { createCaller } from "~/server/api/root";
import { vmFolder } from "~/server/folders";
import type { Actor } from "~/server/permissions";
import { cancelJob, requestDestroy } from "~/server/vms/cancel";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { usageOf } from "~/server/vms/quotas";
import { VmJobRunner } from "~/server/vms/runner";

let t: TestDb;
let runner: VmJobRunner | null = null;
let alice: Actor;
let boxId: string;
let n = 0;
const spec = () => ({ name: `c-${++n}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 });

beforeEach(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  alice = await makeUser(t.db, "alice@example.com");
  controlFakeVagrant({});
});
afterEach(async () => {
  await runner?.stop();
  runner = null;
  await t.close();
});

const startRunner = (maxParallel = 1) => (runner = new VmJobRunner(t.db, { pollMs: 50, maxParallel, observe: { rechecks: 0 } }).start());
const vmOf = (id: string) => t.db.vm.findUniqueOrThrow({ where: { id } });
const jobOf = (id: string) => t.db.vmJob.findUniqueOrThrow({ where: { id } });
const eventsOf = (vmId: string) => t.db.event.findMany({ where: { targetVmId: vmId }, orderBy: { createdAt: "asc" } });
const ended = (id: string, ms = 20_000) => waitFor(async () => ((await jobOf(id)).finishedAt ? jobOf(id) : null), ms, "the job to end");

describe("cancelling a queued create", () => {
  it("ends it at once: nothing is made, the quota and the port are given back, an event says so", async () => {
    const r = startRunner(1);
    controlFakeVagrant({ up: { delayMs: 150 } });
    const first = await createVm(t.db, alice, spec(), noRequest);
    const waiting = await createVm(t.db, alice, spec(), noRequest);
    await waitFor(async () => (await jobOf(first.job.id)).state === "RUNNING", 5_000);
    expect((await jobOf(waiting.job.id)).state).toBe("QUEUED");
    expect((await usageOf(t.db, alice.id)).vms).toBe(2);
    expect((await vmOf(waiting.vm.id)).hostSshPort).not.toBeNull();

    const { job, outcome } = await cancelJob(t.db, alice, waiting.job.id, noRequest);
    expect(outcome).toBe("cancelled");
    expect(job.state).toBe("CANCELLED");
    const vm = await vmOf(waiting.vm.id);
    expect(vm).toMatchObject({ state: "DESTROYED", activeName: null, hostSshPort: null });
    expect((await usageOf(t.db, alice.id)).vms).toBe(1);
    expect(existsSync(vmFolder(vm.id))).toBe(false);
    const ev = (await eventsOf(vm.id)).find((e) => e.action === "vm.create.cancelled");
    expect(ev?.message).toContain("before it started");
    expect(ev?.actorId).toBe(alice.id);

    await r.idle();
    // The runner never ran it, and the name is free again.
    expect(fakeCalls(vmFolder(vm.id))).toEqual([]);
    expect((await jobOf(waiting.job.id)).state).toBe("CANCELLED");
    expect((await jobOf(first.job.id)).state).toBe("SUCCEEDED");
    await expect(cancelJob(t.db, alice, waiting.job.id, noRequest)).rejects.toMatchObject({ code: "CONFLICT" });
  });
});

describe("cancelling a running create", () => {
  it("ends Vagrant once the domain exists, destroys the domain and its guest, and the VM is gone", async () => {
    startRunner(1);
    controlFakeVagrant({ up: { delayMs: 250 } });
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    const folder = vmFolder(vm.id);
    // The domain exists (vagrant-libvirt recorded its id) and the guest is booting.
    await waitFor(async () => (await jobOf(job.id)).output.includes("Waiting for domain to get an IP address"), 15_000, "the domain");
    const guestPid = (JSON.parse(readFileSync(path.join(folder, ".vagrant/guest/listening.json"), "utf8")) as { pid: number }).pid;
    expect(isAlive(guestPid)).toBe(true);
    expect(existsSync(path.join(folder, ".vagrant/machines/default/libvirt/id"))).toBe(true);

    const asked = Date.now();
    const { outcome } = await cancelJob(t.db, alice, job.id, noRequest);
    expect(outcome).toBe("cancelling");
    const done = await ended(job.id);
    expect(Date.now() - asked).toBeLessThan(10_000);
    expect(done.state).toBe("CANCELLED");
    expect(done.output).toContain("Cancelled by alice@example.com: the Vagrant process was ended");
    expect(done.output).toContain("Removing domain..."); // vagrant destroy -f ran
    expect(done.message).toContain("the VM is gone");
    expect(await vmOf(vm.id)).toMatchObject({ state: "DESTROYED", activeName: null, hostSshPort: null, ipAddress: null });
    expect(existsSync(folder)).toBe(false);
    await waitFor(async () => !isAlive(guestPid), 5_000, "the guest to stop");
    const events = await eventsOf(vm.id);
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(["vm.create.requested", "vm.create.cancel-requested", "vm.create.cancelled"]));
    expect(events.find((e) => e.action === "vm.create.cancelled")!.message).toContain("was cancelled (alice@example.com)");
    expect((await usageOf(t.db, alice.id)).vms).toBe(0);
  });

  it("ends a Vagrant that ignores SIGTERM, with its children, and the next queued job runs", async () => {
    const r = startRunner(1);
    controlFakeVagrant({ up: { hang: true, ignoreTerm: true } });
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    const pidsFile = path.join(vmFolder(vm.id), ".vagrant/fake-hang.pids");
    await waitFor(async () => existsSync(pidsFile) && readFileSync(pidsFile, "utf8").trim().split("\n").length === 2, 15_000, "vagrant to hang");
    const pids = readFileSync(pidsFile, "utf8").trim().split("\n").map(Number);
    const next = await createVm(t.db, alice, spec(), noRequest);
    expect((await jobOf(next.job.id)).state).toBe("QUEUED");

    controlFakeVagrant({});
    await cancelJob(t.db, alice, job.id, noRequest);
    const done = await ended(job.id);
    expect(done.state).toBe("CANCELLED");
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect((await vmOf(vm.id)).state).toBe("DESTROYED");
    await r.idle();
    expect((await vmOf(next.vm.id)).state).toBe("RUNNING");
  });

  it("a cancel that arrives after `vagrant up` ended, while the VM's state is read, still destroys what the create made", async () => {
    startRunner(1);
    // `status` prints its lines slowly: the window between the end of `up` and the end of the job.
    controlFakeVagrant({ status: { delayMs: 400 } });
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    const folder = vmFolder(vm.id);
    await waitFor(
      async () => {
        const calls = fakeCalls(folder).map((c) => c[0]);
        return calls.includes("up") && calls.lastIndexOf("status") > calls.indexOf("up");
      },
      15_000,
      "vagrant up to end and the state to be read",
    );
    const { outcome } = await cancelJob(t.db, alice, job.id, noRequest);
    expect(outcome).toBe("cancelling");
    const done = await ended(job.id);
    expect(done.state).toBe("CANCELLED");
    expect(done.message).toContain("destroyed");
    expect(await vmOf(vm.id)).toMatchObject({ state: "DESTROYED", hostSshPort: null });
    expect(existsSync(folder)).toBe(false);
    expect((await eventsOf(vm.id)).map((e) => e.action)).toContain("vm.create.cancelled");
  });
});

describe("destroy in every state", () => {
  it("while a start is queued: the start is dropped and a destroy takes its place", async () => {
    const r = startRunner(1);
    const busy = await createVm(t.db, alice, spec(), noRequest);
    const target = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    await requestVmOperation(t.db, alice, target.vm.id, "stop", {}, noRequest);
    await r.idle();
    controlFakeVagrant({ reload: { delayMs: 200 }, up: { delayMs: 200 } });
    // The one starting slot is taken by a slow restart of the other VM.
    const restart = await requestVmOperation(t.db, alice, busy.vm.id, "restart", {}, noRequest);
    await waitFor(async () => (await jobOf(restart.id)).state === "RUNNING", 5_000);
    const start = await requestVmOperation(t.db, alice, target.vm.id, "start", {}, noRequest);
    expect((await vmOf(target.vm.id)).state).toBe("STARTING");

    const destroy = await requestDestroy(t.db, alice, target.vm.id, target.vm.name, noRequest);
    expect(destroy.kind).toBe("DESTROY");
    expect((await jobOf(start.id)).state).toBe("CANCELLED");
    // The destroy has its own lane: it does not wait for the restart.
    const done = await ended(destroy.id, 10_000);
    expect(done.state).toBe("SUCCEEDED");
    expect((await jobOf(restart.id)).finishedAt).toBeNull();
    expect((await vmOf(target.vm.id)).state).toBe("DESTROYED");
    // Asking again for a VM being destroyed, or destroyed, changes nothing more.
    await expect(requestDestroy(t.db, alice, target.vm.id, target.vm.name, noRequest)).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("while a create is queued: the VM is gone at once", async () => {
    startRunner(1);
    controlFakeVagrant({ up: { delayMs: 150 } });
    await createVm(t.db, alice, spec(), noRequest);
    const waiting = await createVm(t.db, alice, spec(), noRequest);
    const job = await requestDestroy(t.db, alice, waiting.vm.id, waiting.vm.name, noRequest);
    expect(job).toMatchObject({ id: waiting.job.id, state: "CANCELLED" });
    expect((await vmOf(waiting.vm.id)).state).toBe("DESTROYED");
  });

  it("while a restart runs: its Vagrant process is ended and the VM destroyed; a plain cancel of it is refused", async () => {
    const r = startRunner(1);
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    controlFakeVagrant({ reload: { delayMs: 300 }, up: { delayMs: 300 } });
    const restart = await requestVmOperation(t.db, alice, vm.id, "restart", {}, noRequest);
    await waitFor(async () => (await jobOf(restart.id)).output.includes("Attempting graceful shutdown"), 10_000, "the restart to run");
    await expect(cancelJob(t.db, alice, restart.id, noRequest)).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });

    const same = await requestDestroy(t.db, alice, vm.id, vm.name, noRequest);
    expect(same.id).toBe(restart.id);
    expect(same.cancelRequestedAt).not.toBeNull();
    // Asked twice while it is being ended: the same job, no second destroy.
    expect((await requestDestroy(t.db, alice, vm.id, vm.name, noRequest)).id).toBe(restart.id);
    const done = await ended(restart.id);
    expect(done.state).toBe("CANCELLED");
    expect(await vmOf(vm.id)).toMatchObject({ state: "DESTROYED", activeName: null });
    expect(existsSync(vmFolder(vm.id))).toBe(false);
    const events = (await eventsOf(vm.id)).map((e) => e.action);
    expect(events).toEqual(expect.arrayContaining(["vm.destroy.requested", "vm.destroy"]));
  });
});

describe("who may cancel", () => {
  it("another user sees no such job; an admin may cancel anyone's", async () => {
    startRunner(1);
    controlFakeVagrant({ up: { delayMs: 150 } });
    await createVm(t.db, alice, spec(), noRequest);
    const waiting = await createVm(t.db, alice, spec(), noRequest);
    const mallory = await makeUser(t.db, "mallory@example.com");
    const admin = await makeUser(t.db, "root@example.com", "ADMIN");
    const as = (actor: Actor) => createCaller({ db: t.db, actor, sourceIp: null, userAgent: "vitest" });
    await expect(as(mallory).vms.cancelJob({ jobId: waiting.job.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(as(mallory).vms.destroy({ id: waiting.vm.id, confirmName: waiting.vm.name })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(as(mallory).admin.queueCancel({ jobId: waiting.job.id })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await jobOf(waiting.job.id)).state).toBe("QUEUED");
    expect(await as(admin).vms.cancelJob({ jobId: waiting.job.id })).toMatchObject({ outcome: "cancelled" });
    const ev = (await eventsOf(waiting.vm.id)).find((e) => e.action === "vm.create.cancelled")!;
    expect(ev.actorId).toBe(admin.id);
    expect(ev.targetUserId).toBe(alice.id);
  });
});
