// Observed state wins: the sampler's VM source (src/server/vms/observed-state.ts)
// reconciles rows with what `virsh domstats --raw` shows, after two ticks that
// agree, never against a job in flight, never when libvirt does not answer.
// VMs are made by the real job runner with the stand-in vagrant; virsh answers
// with the real output format (tests/fixtures/virsh) for the domains we choose.
import { controlFakeVagrant, makeUser, tinyBox } from "./harness";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS } from "../db/providers";
import { createTestDb, type TestDb } from "../../support/db";
import { VmStatsReader } from "~/server/hypervisor/vm-stats";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { createObservedVmSource, createStateObserver } from "~/server/vms/observed-state";
import { costOfMinutes } from "~/server/vms/pricing";
import { VmJobRunner } from "~/server/vms/runner";
import type { Actor } from "~/server/permissions";

const FIXTURE = readFileSync(path.join(import.meta.dirname, "../../fixtures/virsh/domstats-vagrant-domain.txt"), "utf8");
const MIN = 60_000;
const TICK = 5_000;

/** A running domain in libvirt 9's format (the fixture's counters), or an inactive one with just its state lines. */
function domain(vmId: string, state: "running" | "shutdown" | "destroyed" | "crashed-shutoff" | "crashed"): string {
  const name = `${vmId}_default`;
  if (state === "running") return FIXTURE.replace("Domain: 'proj1_default'", `Domain: '${name}'`);
  const [s, r] = { shutdown: [5, 1], destroyed: [5, 2], "crashed-shutoff": [5, 3], crashed: [6, 1] }[state];
  return `Domain: '${name}'\n  state.state=${s}\n  state.reason=${r}\n`;
}

/** A stand-in virsh: `domstats` prints what the test sets (or fails like an absent libvirtd); UUID lookups fail, so names come from the VM ids. */
function fakeVirsh() {
  const v = {
    out: "" as string | null,
    domstatsCalls: 0,
    reader: null as unknown as VmStatsReader,
  };
  v.reader = new VmStatsReader(async (args) => {
    if (args[0] !== "domstats") throw new Error("error: failed to get domain");
    v.domstatsCalls++;
    if (v.out === null) throw Object.assign(new Error("failed"), { stderr: "error: failed to connect to the hypervisor" });
    return v.out;
  });
  return v;
}

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`observed state wins (${title})`, () => {
    let t: TestDb;
    let runner: VmJobRunner;
    let user: Actor;
    let boxId: string;
    let n = 0;

    beforeAll(async () => {
      t = await createTestDb({ provider });
      boxId = (await tinyBox(t.db)).id;
    });
    afterAll(async () => t.close());
    beforeEach(async () => {
      controlFakeVagrant({});
      user = await makeUser(t.db, `obs${++n}-${provider}@example.com`);
      runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
    });
    afterEach(async () => runner.stop());

    async function runningVm() {
      const { vm } = await createVm(t.db, user, { name: `obs-${n}-${Math.random().toString(36).slice(2, 7)}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 });
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
      return vm;
    }
    async function stoppedVm() {
      const vm = await runningVm();
      await requestVmOperation(t.db, user, vm.id, "stop");
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("STOPPED");
      return vm;
    }
    const row = (id: string) => t.db.vm.findUniqueOrThrow({ where: { id } });
    const events = (vmId: string) => t.db.event.findMany({ where: { targetVmId: vmId, action: { startsWith: "vm.observed." } } });

    it("RUNNING row, domain shut off from inside the guest: one tick changes nothing, the second stops it, with an event", async () => {
      const vm = await runningVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      const t0 = Date.now();
      virsh.out = domain(vm.id, "running");
      expect((await source.read(t0)).map((r) => [r.vmId, r.status])).toEqual([[vm.id, "ok"]]);
      virsh.out = domain(vm.id, "shutdown");
      await source.read(t0 + TICK);
      expect((await row(vm.id)).state).toBe("RUNNING"); // one disagreeing tick alone
      expect(await events(vm.id)).toEqual([]);
      await source.read(t0 + 2 * TICK);
      const after = await row(vm.id);
      expect(after).toMatchObject({ state: "STOPPED", error: null, meteredUntil: null, ipAddress: null });
      const [event] = await events(vm.id);
      expect(event).toMatchObject({
        action: "vm.observed.stopped",
        type: "vm",
        severity: "WARNING",
        targetUserId: user.id,
        message:
          `${vm.name} stopped outside Twarga Cloud: it was shut down (a poweroff inside the guest, or virsh shutdown). It is now stopped. ` +
          `It was last seen running at ${new Date(t0).toISOString()}; it is charged until then.`,
      });
      expect(virsh.domstatsCalls).toBe(3); // one virsh call per tick, whatever the number of VMs
    });

    it("says virsh destroy when libvirt gives that reason", async () => {
      const vm = await runningVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      virsh.out = domain(vm.id, "destroyed");
      await source.read(Date.now());
      await source.read(Date.now() + TICK);
      expect((await row(vm.id)).state).toBe("STOPPED");
      // Never seen running by this process: nothing more is charged, and the event does not claim a time.
      expect((await events(vm.id))[0]!.message).toBe(`${vm.name} stopped outside Twarga Cloud: it was destroyed (virsh destroy). It is now stopped.`);
    });

    it.each(["crashed", "crashed-shutoff"] as const)("RUNNING row, domain %s: STOPPED with the crash said", async (state) => {
      const vm = await runningVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      virsh.out = domain(vm.id, state);
      await source.read(Date.now());
      expect((await row(vm.id)).state).toBe("RUNNING");
      await source.read(Date.now() + TICK);
      expect(await row(vm.id)).toMatchObject({
        state: "STOPPED",
        error: "The VM crashed (libvirt reports its domain crashed). Start it again, or destroy it.",
      });
      expect(await events(vm.id)).toMatchObject([
        { action: "vm.observed.crashed", severity: "WARNING", message: `${vm.name} crashed (libvirt reports its domain crashed). It is now stopped.` },
      ]);
    });

    it("RUNNING row, domain missing while libvirt answers: ERROR, missing from libvirt", async () => {
      const vm = await runningVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      virsh.out = domain("someone-else", "running");
      await source.read(Date.now());
      expect((await row(vm.id)).state).toBe("RUNNING");
      await source.read(Date.now() + TICK);
      expect(await row(vm.id)).toMatchObject({ state: "ERROR", meteredUntil: null });
      expect((await row(vm.id)).error).toContain(`The VM's libvirt domain ${vm.id}_default is missing from libvirt`);
      expect(await events(vm.id)).toMatchObject([
        { action: "vm.observed.missing", message: `${vm.name} is missing from libvirt: its domain ${vm.id}_default no longer exists. It is now in error.` },
      ]);
    });

    it("STOPPED row, domain running: RUNNING, started outside Twarga Cloud, uptime and metering from then; no stats until then", async () => {
      const vm = await stoppedVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      virsh.out = domain(vm.id, "running");
      expect(await source.read(Date.now())).toEqual([]); // a STOPPED VM is watched, not sampled
      expect((await row(vm.id)).state).toBe("STOPPED");
      const before = Date.now();
      await source.read(Date.now() + TICK);
      const after = await row(vm.id);
      expect(after.state).toBe("RUNNING");
      expect(after.startedAt!.getTime()).toBeGreaterThanOrEqual(before);
      expect(after.meteredUntil!.getTime()).toBeGreaterThanOrEqual(before);
      expect(await events(vm.id)).toMatchObject([
        {
          action: "vm.observed.started",
          severity: "INFO",
          targetUserId: user.id,
          message: `${vm.name} was started outside Twarga Cloud. It is now running, and charged from now.`,
        },
      ]);
      // The next tick samples it.
      expect((await source.read(Date.now() + 2 * TICK)).map((r) => r.vmId)).toEqual([vm.id]);
    });

    it("needs two consecutive disagreeing ticks: an agreeing tick in between restarts the count", async () => {
      const vm = await runningVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      const t0 = Date.now();
      for (const [i, state] of (["shutdown", "running", "shutdown", "running"] as const).entries()) {
        virsh.out = domain(vm.id, state);
        await source.read(t0 + i * TICK);
      }
      expect((await row(vm.id)).state).toBe("RUNNING");
      expect(await events(vm.id)).toEqual([]);
    });

    it("changes nothing while libvirt does not answer, and an unanswered tick restarts the count", async () => {
      const vm = await runningVm();
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      const t0 = Date.now();
      virsh.out = null;
      for (let i = 0; i < 4; i++) await source.read(t0 + i * TICK);
      expect((await row(vm.id)).state).toBe("RUNNING");
      virsh.out = domain(vm.id, "shutdown");
      await source.read(t0 + 4 * TICK);
      virsh.out = null;
      await source.read(t0 + 5 * TICK);
      virsh.out = domain(vm.id, "shutdown");
      await source.read(t0 + 6 * TICK);
      expect((await row(vm.id)).state).toBe("RUNNING");
      expect(await events(vm.id)).toEqual([]);
    });

    it("leaves a VM with a job in flight to its job, even one queued between the observation and the write", async () => {
      const vm = await runningVm();
      await runner.stop(); // the queued job stays queued
      const observer = createStateObserver(t.db);
      const listed = [{ id: vm.id, folder: "", name: vm.name, ownerId: user.id, state: "RUNNING" as const, meteredUntil: null }];
      const shutOff = (atMs: number) => ({
        atMs,
        libvirtUp: true,
        results: [],
        domains: [{ vmId: vm.id, domain: `${vm.id}_default`, present: true as const, state: 5, reason: 1 }],
      });
      expect(await observer.observe(listed, shutOff(Date.now()))).toEqual([]);
      // The user asks for a stop after the tick read the row as RUNNING.
      await requestVmOperation(t.db, user, vm.id, "stop");
      expect(await observer.observe(listed, shutOff(Date.now() + TICK))).toEqual([]);
      expect((await row(vm.id)).state).toBe("STOPPING");
      // A RUNNING row with a queued job (the job's own state write still to come) is left alone too.
      await t.db.vm.update({ where: { id: vm.id }, data: { state: "RUNNING" } });
      expect(await observer.observe(listed, shutOff(Date.now() + 2 * TICK))).toEqual([]);
      expect(await observer.observe(listed, shutOff(Date.now() + 3 * TICK))).toEqual([]);
      expect((await row(vm.id)).state).toBe("RUNNING");
      expect(await events(vm.id)).toEqual([]);
      // Once the job is over, two more disagreeing ticks (a refused write restarts the count) reconcile it.
      await t.db.vmJob.updateMany({ where: { vmId: vm.id }, data: { state: "INTERRUPTED" } });
      expect(await observer.observe(listed, shutOff(Date.now() + 4 * TICK))).toEqual([]);
      expect(await observer.observe(listed, shutOff(Date.now() + 5 * TICK))).toEqual([{ vmId: vm.id, disagreement: "stopped" }]);
    });

    it("ends the final charge at the last tick that saw the VM running, not at the reconciliation", async () => {
      const vm = await runningVm();
      // Metered since 20 minutes ago (the per-minute meter has not run in this test).
      const base = new Date(Date.now() - 20 * MIN);
      // Last seen up by the meter a minute before the last tick (metering charges no span it did not see; METERING_MAX_GAP_S).
      await t.db.vm.update({ where: { id: vm.id }, data: { meteredUntil: base, lastSeenRunningAt: new Date(base.getTime() + 2 * MIN + 40_000) } });
      const virsh = fakeVirsh();
      const source = createObservedVmSource(t.db, { reader: virsh.reader });
      // Seen running 3 min 40 s in, then shut off: the ticks after it are not charged, nor the minutes up to now.
      const lastRunning = base.getTime() + 3 * MIN + 40_000;
      virsh.out = domain(vm.id, "running");
      await source.read(lastRunning);
      virsh.out = domain(vm.id, "shutdown");
      await source.read(lastRunning + TICK);
      await source.read(lastRunning + 2 * TICK);
      expect((await row(vm.id)).state).toBe("STOPPED");
      const charges = await t.db.creditLedgerEntry.findMany({ where: { vmId: vm.id, kind: "CHARGE" } });
      // The partial last minute rounds up, as for every final charge: 4 minutes, not 20.
      expect(charges.map((c) => c.amount)).toEqual([-costOfMinutes(vm, 4)]);
      const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
      expect(charges[0]!.reason).toBe(
        `${vm.name}: 4 min running, ${hms(base.getTime())}–${hms(base.getTime() + 4 * MIN)} UTC on ${base.toISOString().slice(0, 10)}`,
      );
    });
  });
}
