// A crash of the app mid-operation: a separate app process (job-runner-worker.ts)
// runs a create with the stand-in vagrant and is killed with SIGKILL while
// `vagrant up` runs. Vagrant outlives it (its own process group, output to
// files). A restarted runner finds the job's lease owner gone, takes the job
// over, waits for that very Vagrant process (or ends it at the time limit), and
// only then reconciles.
import { controlFakeVagrant, fakeCalls, isAlive, makeUser, noRequest, testDbProvider, tinyBox, waitFor } from "./harness";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { vmFolder } from "~/server/folders";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { meterRunningVms } from "~/server/vms/metering";
import { costOfMinutes } from "~/server/vms/pricing";
import { processIdentity } from "~/server/vms/orphans";
import { VmJobRunner } from "~/server/vms/runner";
import type { Actor } from "~/server/permissions";

const WORKER = path.join(import.meta.dirname, "job-runner-worker.ts");
const LEASE_MS = 30_000; // long: the restart must see the owner is gone without waiting for its lease to run out

let t: TestDb;
let alice: Actor;
let boxId: string;
let runner: VmJobRunner | null = null;
let worker: ResultPromise | null = null;
let n = 0;
// An orphan is reparented to whatever reaps for this machine (perhaps never): a zombie counts as ended.
const runs = (pid: number) => processIdentity(pid) !== null;

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  alice = await makeUser(t.db, "orphans@example.com");
});
const madeVms: string[] = [];
afterAll(async () => {
  // A stand-in guest started while no app ran outlives the test unless ended here (a failed test skips the destroy).
  for (const id of madeVms) {
    const listening = path.join(vmFolder(id), ".vagrant/guest/listening.json");
    if (!existsSync(listening)) continue;
    const { pid } = JSON.parse(readFileSync(listening, "utf8")) as { pid: number };
    if (runs(pid)) process.kill(pid, "SIGTERM");
  }
  await t.close();
});
afterEach(async () => {
  worker?.kill("SIGKILL");
  worker = null;
  await runner?.stop();
  runner = null;
  controlFakeVagrant({});
});

/** Starts the app process and resolves with its lease owner once its runner runs. */
async function startWorker(): Promise<string> {
  const w = execa(process.execPath, ["--import", "tsx", WORKER, t.url, String(LEASE_MS)], { reject: false, all: true });
  worker = w;
  return new Promise<string>((resolve, reject) => {
    let seen = "";
    w.all!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /ready (\S+)/.exec(seen);
      if (m) resolve(m[1]!);
    });
    void w.then((r) => reject(new Error(`the app process exited before it was ready:\n${r.all}`)));
  });
}

/**
 * Kills the app once `vagrant up` has printed `mark`. The stand-in guest lives as long as the process that ran
 * vagrant (tests/support/stand-in-guest): killing the app while the stand-in waits for a guest it has just started
 * would leave that wait to time out, which a real domain never does, so the first test kills after it.
 */
async function crashDuringUp(control: Record<string, unknown>, mark: string) {
  controlFakeVagrant({ up: control });
  const { vm, job } = await createVm(t.db, alice, { name: `orphan-${++n}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
  madeVms.push(vm.id);
  const owner = await startWorker();
  // The app's runner claimed the job with its lease and recorded the Vagrant process it started.
  const running = await waitFor(
    async () => {
      const j = await t.db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
      return j.state === "RUNNING" && j.vagrantPid !== null && j.output.includes(mark) ? j : null;
    },
    60_000,
    "the app process to run vagrant up",
  );
  expect(running.leaseOwner).toBe(owner);
  expect(running.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now());
  const appPid = worker!.pid!;
  worker!.kill("SIGKILL");
  await worker;
  worker = null;
  expect(isAlive(appPid)).toBe(false);
  const vagrantPid = running.vagrantPid!;
  // Exactly the recorded process: same PID and start time.
  expect(processIdentity(vagrantPid)?.startTicks).toBe(running.vagrantPidStart);
  return { vm, job, vagrantPid, owner };
}

describe("a crash of the app during vagrant up", () => {
  it("the restarted runner waits for the surviving vagrant up; the VM ends as the stand-in reports, with one job and one charge stream", async () => {
    const { vm, job, vagrantPid, owner } = await crashDuringUp({ delayMs: 600 }, "SSH address:");
    // Vagrant outlived the app (its output goes to files, not to a pipe into the dead process).
    expect(runs(vagrantPid)).toBe(true);

    runner = new VmJobRunner(t.db, { pollMs: 50, leaseMs: LEASE_MS, orphanPollMs: 50 }).start();
    // Taken over at once (the owner's PID is gone), and the VM is not reconciled while Vagrant still runs.
    const adopted = await waitFor(async () => {
      const j = await t.db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
      return j.leaseOwner === runner!.leaseOwner ? j : null;
    });
    expect(adopted.leaseOwner).not.toBe(owner);
    expect(adopted.state).toBe("RUNNING");
    if (runs(vagrantPid)) expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("CREATING");

    const ended = await waitFor(
      async () => {
        const j = await t.db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
        return j.state !== "RUNNING" ? j : null;
      },
      60_000,
      "the recovery",
    );
    expect(runs(vagrantPid)).toBe(false);
    expect(ended.state).toBe("INTERRUPTED");
    expect(ended.message).toContain("Vagrant went on without the app and finished.");
    expect(ended.message).toContain("Vagrant now reports running");
    expect(ended.output).toContain("Machine booted and ready!"); // the lines written while the app was down

    const after = await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
    const status = JSON.parse(readFileSync(path.join(vmFolder(vm.id), ".vagrant/fake-state.json"), "utf8")) as { state: string };
    expect(status.state).toBe("running");
    expect(after.state).toBe("RUNNING");
    expect(after.meteredUntil).not.toBeNull();
    expect(after.ipAddress).toMatch(/^127\.231\./);
    // The boot that finished without the app still got the VM's own key and the owner's keys before the job ended.
    expect(after.keysSyncedAt).not.toBeNull();

    // One job, one `vagrant up`: nothing ran the create a second time.
    expect(await t.db.vmJob.count({ where: { vmId: vm.id } })).toBe(1);
    expect(fakeCalls(vmFolder(vm.id)).filter((c) => c[0] === "up")).toHaveLength(1);

    // One charge stream: metering passes a minute apart, for three minutes, charge those three minutes once.
    const from = after.meteredUntil!;
    for (const minute of [1, 2, 3]) await meterRunningVms(t.db, new Date(from.getTime() + minute * 60_000 + 200), async () => {});
    const charges = await t.db.creditLedgerEntry.findMany({ where: { vmId: vm.id, kind: "CHARGE" } });
    expect(charges).toHaveLength(3);
    expect(charges.reduce((sum, c) => sum - c.amount, 0)).toBeCloseTo(costOfMinutes(after, 3), 6);
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).meteredUntil).toEqual(new Date(from.getTime() + 3 * 60_000));

    // Cleanup through the app: the stand-in guest goes with the VM.
    await requestVmOperation(t.db, alice, vm.id, "destroy", { confirmName: after.name }, noRequest);
    await runner.idle();
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("DESTROYED");
  }, 120_000);

  it("a surviving vagrant up that runs past its time limit is ended with its process tree, then the VM is reconciled", async () => {
    const { vm, job, vagrantPid } = await crashDuringUp({ hang: true }, "Starting domain.");
    const pidsFile = path.join(vmFolder(vm.id), ".vagrant/fake-hang.pids");
    await waitFor(async () => existsSync(pidsFile), 20_000, "the hang");
    const pids = readFileSync(pidsFile, "utf8").trim().split("\n").map(Number);
    expect(pids[0]).toBe(vagrantPid);
    expect(pids.every(runs)).toBe(true);

    const started = (await t.db.vmJob.findUniqueOrThrow({ where: { id: job.id } })).startedAt!;
    const limitMs = Date.now() - started.getTime() + 3_000; // three seconds from now
    runner = new VmJobRunner(t.db, { pollMs: 50, leaseMs: LEASE_MS, orphanPollMs: 50, timeouts: { CREATE: limitMs } }).start();
    // Until the limit, Vagrant is waited for: the VM is not called ERROR while its up may still finish.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await t.db.vmJob.findUniqueOrThrow({ where: { id: job.id } })).state).toBe("RUNNING");
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("CREATING");

    const ended = await waitFor(
      async () => {
        const j = await t.db.vmJob.findUniqueOrThrow({ where: { id: job.id } });
        return j.state !== "RUNNING" ? j : null;
      },
      30_000,
      "the recovery",
    );
    expect(Date.now() - started.getTime()).toBeGreaterThanOrEqual(limitMs);
    await waitFor(async () => pids.every((p) => !runs(p)), 10_000, "the whole process tree to end");
    expect(ended.state).toBe("INTERRUPTED");
    expect(ended.message).toMatch(/past the \d+ s time limit and was ended/);
    // The stand-in never finished booting: no domain, and the VM says so.
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("ERROR");
    expect(await t.db.vmJob.count({ where: { vmId: vm.id } })).toBe(1);
  }, 120_000);
});
