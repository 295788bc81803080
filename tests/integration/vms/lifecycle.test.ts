// The whole VM lifecycle against the stand-in vagrant, with a real SQLite
// database, real folders and real child processes.
import { controlFakeVagrant, fakeCalls, isAlive, makeUser, noRequest, testDbProvider, tinyBox, waitFor } from "./harness";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { env } from "~/server/env";
import { balanceOf, currentBalance } from "~/server/vms/ledger";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { vmFolder } from "~/server/folders";
import { recoverInterruptedJobs } from "~/server/vms/reconcile";
import { VmJobRunner } from "~/server/vms/runner";
import { renderVagrantfile } from "~/server/vms/vagrantfile";
import type { Actor } from "~/server/permissions";

let t: TestDb;
let runner: VmJobRunner | null = null;
let alice: Actor;
let boxId: string;
let n = 0;
const spec = () => ({ name: `vm-${++n}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 });

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
});
afterAll(async () => t.close());
beforeEach(async () => {
  controlFakeVagrant({});
  alice = await makeUser(t.db, `alice${++n}@example.com`);
});
afterEach(async () => {
  await runner?.stop();
  runner = null;
});

const startRunner = (opts: ConstructorParameters<typeof VmJobRunner>[1] = {}) => (runner = new VmJobRunner(t.db, { pollMs: 50, ...opts }).start());
const vmOf = (id: string) => t.db.vm.findUniqueOrThrow({ where: { id } });
const jobOf = (id: string) => t.db.vmJob.findUniqueOrThrow({ where: { id } });
const eventsOf = (vmId: string) => t.db.event.findMany({ where: { targetVmId: vmId }, orderBy: { createdAt: "asc" } });

describe("full lifecycle", () => {
  it("creates, stops, starts, restarts and destroys a VM, keeping the history", async () => {
    const r = startRunner();
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    expect(vm.state).toBe("PENDING");
    expect((await vmOf(vm.id)).state).toBe("CREATING");
    await r.idle();

    const running = await vmOf(vm.id);
    expect(running.state).toBe("RUNNING");
    expect(running.ipAddress).toMatch(/^127\.231\.\d+\.\d+$/); // the stand-in guest mirrors its owner network, 10.231.N.0/24
    expect(running.sshUser).toBe("vagrant");
    expect(running.startedAt).not.toBeNull();
    expect(running.meteredUntil).not.toBeNull();
    const created = await jobOf(job.id);
    expect(created).toMatchObject({ state: "SUCCEEDED", exitCode: 0, progress: 100, requestedByEmail: alice.email });
    expect(created.output).toContain("Machine booted and ready!");
    expect(created.output).toContain(`-- Name:              ${vm.id}_default`);
    expect(created.output).toContain(", virtio, 10G"); // escaped commas decoded

    const folder = vmFolder(vm.id);
    expect(folder).toBe(path.join(env().VM_ROOT!, vm.id));
    const vagrantfile = readFileSync(path.join(folder, "Vagrantfile"), "utf8");
    expect(vagrantfile).toContain("config.vm.hostname = 'vm-");
    expect(vagrantfile).toContain("lv.driver = 'qemu'");
    expect(fakeCalls(folder)).toEqual([["up", "--provider=libvirt", "--machine-readable"], ["status", "--machine-readable"], ["ssh-config"]]);

    await requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest);
    expect((await vmOf(vm.id)).state).toBe("STOPPING");
    await r.idle();
    const stopped = await vmOf(vm.id);
    expect(stopped).toMatchObject({ state: "STOPPED", ipAddress: null, meteredUntil: null });

    await requestVmOperation(t.db, alice, vm.id, "start", {}, noRequest);
    await r.idle();
    const restarted1 = await vmOf(vm.id);
    expect(restarted1.state).toBe("RUNNING");

    await new Promise((res) => setTimeout(res, 20));
    await requestVmOperation(t.db, alice, vm.id, "restart", {}, noRequest);
    expect((await vmOf(vm.id)).state).toBe("RESTARTING");
    await r.idle();
    const afterRestart = await vmOf(vm.id);
    expect(afterRestart.state).toBe("RUNNING");
    expect(afterRestart.startedAt!.getTime()).toBeGreaterThan(restarted1.startedAt!.getTime());

    await expect(requestVmOperation(t.db, alice, vm.id, "destroy", { confirmName: "wrong" }, noRequest)).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await requestVmOperation(t.db, alice, vm.id, "destroy", { confirmName: vm.name }, noRequest);
    await r.idle();
    const destroyed = await vmOf(vm.id);
    expect(destroyed).toMatchObject({ state: "DESTROYED", activeName: null });
    expect(destroyed.destroyedAt).not.toBeNull();
    expect(existsSync(folder)).toBe(false);

    const jobs = await t.db.vmJob.findMany({ where: { vmId: vm.id }, orderBy: { createdAt: "asc" } });
    expect(jobs.map((j) => [j.kind, j.state])).toEqual([
      ["CREATE", "SUCCEEDED"],
      ["STOP", "SUCCEEDED"],
      ["START", "SUCCEEDED"],
      ["RESTART", "SUCCEEDED"],
      ["DESTROY", "SUCCEEDED"],
    ]);
    const actions = (await eventsOf(vm.id)).map((e) => e.action);
    for (const op of ["create", "stop", "start", "restart", "destroy"]) {
      expect(actions).toContain(`vm.${op}.requested`);
      expect(actions).toContain(`vm.${op}`);
    }
    // The name is free again once the VM is destroyed.
    const again = await createVm(t.db, alice, { ...spec(), name: vm.name }, noRequest);
    await r.idle();
    expect((await vmOf(again.vm.id)).state).toBe("RUNNING");
  });

  it("shows output and progress while a job runs", async () => {
    controlFakeVagrant({ up: { delayMs: 150 } });
    const r = startRunner();
    const { job } = await createVm(t.db, alice, spec(), noRequest);
    const midway = await waitFor(
      async () => {
        const j = await jobOf(job.id);
        return j.state === "RUNNING" && j.output.includes("Creating domain") ? j : null;
      },
      20_000,
      "partial output",
    );
    expect(midway.progress).toBeGreaterThan(0);
    expect(midway.progress).toBeLessThan(100);
    expect(midway.output).not.toContain("Machine booted and ready!");
    expect(midway.step).toBeTruthy();
    await r.idle();
    expect((await jobOf(job.id)).output).toContain("Machine booted and ready!");
  });
});

describe("failures", () => {
  it("a failed create (libvirt stack trace, no error-exit) ends in ERROR and charges nothing", async () => {
    controlFakeVagrant({ up: { fail: "libvirt" } });
    const r = startRunner();
    const before = await currentBalance(t.db, alice.id);
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    const failed = await vmOf(vm.id);
    expect(failed.state).toBe("ERROR");
    // In words first, then what libvirt said.
    expect(failed.error).toMatch(
      /^The host's hypervisor refused to start the VM .* Vagrant said: Call to virDomainCreateWithFlags failed: .*\(Libvirt::Error\)$/,
    );
    expect(failed.errorOutput).toContain("Removing domain...");
    expect(failed.meteredUntil).toBeNull();
    const j = await jobOf(job.id);
    expect(j).toMatchObject({ state: "FAILED", exitCode: 1 });
    expect(j.output).toContain("vm_action.rb:7:in `create'");
    const charges = await t.db.creditLedgerEntry.count({ where: { userId: alice.id, kind: "CHARGE" } });
    expect(charges).toBe(0);
    expect(await balanceOf(t.db, alice.id)).toBe(before);
    const ev = (await eventsOf(vm.id)).find((e) => e.action === "vm.create");
    expect(ev).toMatchObject({ severity: "WARNING", actorId: alice.id });
    // ERROR allows another try or a destroy.
    controlFakeVagrant({});
    await requestVmOperation(t.db, alice, vm.id, "start", {}, noRequest);
    await r.idle();
    expect((await vmOf(vm.id)).state).toBe("RUNNING");
  });

  it("a VM Vagrant briefly calls inaccessible (running, no address yet) is asked again and ends RUNNING", async () => {
    controlFakeVagrant({ status: { transientState: "inaccessible", transientTimes: 2 } });
    const r = startRunner({ observe: { recheckMs: 20 } });
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    expect(await vmOf(vm.id)).toMatchObject({ state: "RUNNING", error: null });
    const statusCalls = fakeCalls(vmFolder(vm.id)).filter((a) => a[0] === "status");
    expect(statusCalls).toHaveLength(3);
  });

  it("a VM that stays inaccessible ends in ERROR that says why, and can be destroyed", async () => {
    controlFakeVagrant({ status: { transientState: "inaccessible", transientTimes: 1000 } });
    const r = startRunner({ observe: { recheckMs: 5 } });
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    const failed = await vmOf(vm.id);
    expect(failed.state).toBe("ERROR");
    expect(failed.error).toMatch(/^The VM runs but Vagrant cannot reach it/);
    controlFakeVagrant({});
    await requestVmOperation(t.db, alice, vm.id, "destroy", { confirmName: failed.name }, noRequest);
    await r.idle();
    expect((await vmOf(vm.id)).state).toBe("DESTROYED");
  });

  it("a hung vagrant is killed with its whole process tree at the time limit", async () => {
    controlFakeVagrant({ up: { hang: true } });
    const r = startRunner({ timeouts: { CREATE: 1500 } });
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    const pidsFile = path.join(vmFolder(vm.id), ".vagrant/fake-hang.pids");
    await waitFor(async () => existsSync(pidsFile), 10_000, "the hang");
    const pids = readFileSync(pidsFile, "utf8").trim().split("\n").map(Number);
    expect(pids.every(isAlive)).toBe(true);
    const started = Date.now();
    await r.idle();
    expect(Date.now() - started).toBeLessThan(10_000);
    const j = await jobOf(job.id);
    expect(j.state).toBe("TIMED_OUT");
    expect(j.message).toContain("ran past its time limit (2 s)");
    await waitFor(async () => pids.every((p) => !isAlive(p)), 8_000, "the process tree to die");
    // Reconciled: the fake never finished booting, so the machine does not exist.
    expect((await vmOf(vm.id)).state).toBe("ERROR");
  });

  it("escalates to SIGKILL when vagrant ignores SIGTERM", async () => {
    controlFakeVagrant({ up: { hang: true, ignoreTerm: true } });
    const r = startRunner({ timeouts: { CREATE: 1000 } });
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    const pidsFile = path.join(vmFolder(vm.id), ".vagrant/fake-hang.pids");
    await waitFor(async () => existsSync(pidsFile), 10_000, "the hang");
    const pids = readFileSync(pidsFile, "utf8").trim().split("\n").map(Number);
    await r.idle();
    expect((await jobOf(job.id)).state).toBe("TIMED_OUT");
    expect(pids.every((p) => !isAlive(p))).toBe(true);
  }, 30_000);

  it("a stop that hangs is forced off and the VM ends STOPPED", async () => {
    const r = startRunner({ timeouts: { STOP: 1000 } });
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    controlFakeVagrant({ halt: { hang: true } });
    const job = await requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest);
    await r.idle();
    expect((await vmOf(vm.id)).state).toBe("STOPPED");
    const j = await jobOf(job.id);
    expect(j.state).toBe("SUCCEEDED");
    expect(j.message).toContain("powered off");
    expect(fakeCalls(vmFolder(vm.id)).filter((c) => c[0] === "halt")).toEqual([
      ["halt", "--machine-readable"],
      ["halt", "--force", "--machine-readable"],
    ]);
  });
});

describe("one operation per VM, several VMs in parallel", () => {
  it("refuses a second operation on a VM with CONFLICT", async () => {
    const r = startRunner();
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await expect(requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest)).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("busy (creating)"),
    });
    await r.idle();
    const results = await Promise.allSettled([
      requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest),
      requestVmOperation(t.db, alice, vm.id, "restart", {}, noRequest),
      requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest),
    ]);
    expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    for (const x of results.filter((x) => x.status === "rejected")) expect((x as PromiseRejectedResult).reason).toMatchObject({ code: "CONFLICT" });
    await r.idle();
    expect(await t.db.vmJob.count({ where: { vmId: vm.id } })).toBe(2);
  });

  it("runs jobs for different VMs in parallel up to the limit", async () => {
    controlFakeVagrant({ up: { delayMs: 60 } });
    const r = startRunner({ maxParallel: 2 });
    const made = await Promise.all([1, 2, 3].map(() => createVm(t.db, alice, spec(), noRequest)));
    let peak = 0;
    const sampling = (async () => {
      while ((await t.db.vmJob.count({ where: { vmId: { in: made.map((m) => m.vm.id) }, state: { in: ["QUEUED", "RUNNING"] } } })) > 0) {
        peak = Math.max(peak, await t.db.vmJob.count({ where: { vmId: { in: made.map((m) => m.vm.id) }, state: "RUNNING" } }));
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    await r.idle();
    await sampling;
    expect(peak).toBe(2);
    for (const m of made) expect((await vmOf(m.vm.id)).state).toBe("RUNNING");
  });
});

describe("start-up reconciliation", () => {
  async function leaveJobRunning() {
    // The app queued and claimed the job, wrote the folder, started vagrant... and died.
    const { vm, job } = await createVm(t.db, alice, spec(), noRequest);
    await t.db.vmJob.update({
      where: { id: job.id },
      data: { state: "RUNNING", startedAt: new Date(), output: "Bringing machine 'default' up with 'libvirt' provider...\n" },
    });
    const folder = vmFolder(vm.id);
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      path.join(folder, "Vagrantfile"),
      renderVagrantfile({
        vmId: vm.id,
        boxName: "local/tiny",
        hostname: vm.name,
        cpus: 1,
        ramMb: 512,
        diskGb: 10,
        driver: "qemu",
        libvirtUri: "qemu:///system",
      }),
    );
    return { vm, job, folder };
  }

  it("a VM whose up finished after the app died comes back RUNNING", async () => {
    const { vm, job, folder } = await leaveJobRunning();
    // vagrant outlived the app and finished the boot.
    await execa(process.env.VAGRANT_BIN!, ["up", "--provider=libvirt", "--machine-readable"], { cwd: folder });
    expect(await recoverInterruptedJobs(t.db)).toBe(1);
    const recovered = await vmOf(vm.id);
    expect(recovered.state).toBe("RUNNING");
    expect(recovered.ipAddress).toMatch(/^127\.168\.121\./); // a Vagrantfile without a network: the shared default
    expect(recovered.meteredUntil).not.toBeNull();
    const j = await jobOf(job.id);
    expect(j.state).toBe("INTERRUPTED");
    expect(j.message).toContain("Vagrant now reports running");
    const ev = (await eventsOf(vm.id)).find((e) => e.action === "vm.create" && (e.details as { outcome?: string }).outcome === "interrupted");
    expect(ev).toBeTruthy();
    expect(await recoverInterruptedJobs(t.db)).toBe(0);
  });

  it("a VM whose up died with the app ends in ERROR, not CREATING", async () => {
    const { vm, job } = await leaveJobRunning();
    await recoverInterruptedJobs(t.db);
    expect((await vmOf(vm.id)).state).toBe("ERROR");
    expect((await jobOf(job.id)).state).toBe("INTERRUPTED");
  });

  it("a VM left STOPPING without any job is reconciled", async () => {
    const r = startRunner();
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    await runner!.stop();
    runner = null;
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "STOPPING" } });
    await recoverInterruptedJobs(t.db);
    expect((await vmOf(vm.id)).state).toBe("RUNNING");
  });
});

describe("destroy edge cases", () => {
  it("destroys a VM whose folder is already gone without calling vagrant", async () => {
    controlFakeVagrant({ up: { fail: "error" } });
    const r = startRunner();
    const { vm } = await createVm(t.db, alice, spec(), noRequest);
    await r.idle();
    expect((await vmOf(vm.id)).state).toBe("ERROR");
    expect((await vmOf(vm.id)).error).toBe("Vagrant failed: The fake vagrant was told to fail.\nSee its control file.");
    rmSync(vmFolder(vm.id), { recursive: true, force: true });
    const job = await requestVmOperation(t.db, alice, vm.id, "destroy", { confirmName: vm.name }, noRequest);
    await r.idle();
    expect((await jobOf(job.id)).state).toBe("SUCCEEDED");
    expect((await vmOf(vm.id)).state).toBe("DESTROYED");
  });
});
