// Metering charges only minutes in which the VM was seen running
// (src/server/vms/metering.ts): a span between two sightings longer than
// METERING_MAX_GAP_S (the app or its host was down) is not charged, never
// billed later as a backlog, and an event says which minutes were free. VMs
// are made by the real job runner with the stand-in vagrant.
import { controlFakeVagrant, makeUser, noRequest, testDbProvider, tinyBox, waitFor } from "./harness";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { env } from "~/server/env";
import type { Actor } from "~/server/permissions";
import { balanceOf, currentBalance } from "~/server/vms/ledger";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { meterRunningVms } from "~/server/vms/metering";
import { costOfMinutes } from "~/server/vms/pricing";
import { VmJobRunner } from "~/server/vms/runner";
import { startVmServices, systemStopVm } from "~/server/vms/services";

const MIN = 60_000;
const SPEC = { cpus: 1, ramMb: 1024, diskGb: 10 };
const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
/** Reasons name whole seconds. */
const sec = (ms: number) => Math.floor(ms / 1000) * 1000;

let t: TestDb;
let user: Actor;
let boxId: string;
let n = 0;

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
});
afterAll(async () => t.close());
beforeEach(async () => {
  controlFakeVagrant({});
  user = await makeUser(t.db, `gaps${++n}@example.com`);
  await currentBalance(t.db, user.id);
});

const row = (id: string) => t.db.vm.findUniqueOrThrow({ where: { id } });
const charges = (vmId: string) => t.db.creditLedgerEntry.findMany({ where: { vmId, kind: "CHARGE" }, orderBy: { createdAt: "asc" } });
const gapEvents = (vmId: string) => t.db.event.findMany({ where: { targetVmId: vmId, action: "vm.metering.gap" } });
/** The span a charge's reason names, as [from, to] in ms ("…, 14:02:10–14:05:10 UTC on 2026-11-30"). */
function spanOf(reason: string): [number, number] {
  const m = /(\d\d:\d\d:\d\d)–(\d\d:\d\d:\d\d) UTC on (\d{4}-\d\d-\d\d)$/.exec(reason);
  if (!m) throw new Error(`no span in ${reason}`);
  const from = Date.parse(`${m[3]}T${m[1]}Z`);
  let to = Date.parse(`${m[3]}T${m[2]}Z`);
  if (to < from) to += 24 * 60 * MIN; // crossed midnight
  return [from, to];
}

describe("metering with the app down", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a restart of the app after 30 minutes of downtime charges nothing for those minutes", async () => {
    // The clock is the only thing faked: it runs on by itself, and the test moves it forward where real time would take minutes.
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    const options = { pollMs: 50, meterEveryMs: 100 };
    let app = await startVmServices(t.db, options);
    let vmId = "";
    try {
      const { vm } = await createVm(t.db, user, { name: "gap-restart", boxId, ...SPEC }, noRequest);
      vmId = vm.id;
      await app.runner.idle();
      const start = (await row(vm.id)).meteredUntil!.getTime();
      /** Moves the clock to `at` and waits for the app's own meter to see the VM there. */
      const passAt = async (at: number) => {
        vi.setSystemTime(at);
        await waitFor(async () => ((await row(vm.id)).lastSeenRunningAt?.getTime() ?? 0) >= at, 20_000, `a metering pass at ${hms(at)}`);
      };

      // Two minutes with the app up: both charged.
      await passAt(start + MIN + 30_000);
      await passAt(start + 2 * MIN + 30_000);
      expect(await charges(vm.id)).toHaveLength(2);

      // The app stops; 30 minutes later it starts again (start-up reconciliation, job runner, meter) and meters on.
      await app.stop();
      const downAt = Date.now();
      vi.setSystemTime(downAt + 30 * MIN);
      app = await startVmServices(t.db, options);
      const backAt = Date.now();
      await passAt(backAt);
      await passAt(backAt + MIN + 10_000);
      expect((await row(vm.id)).state).toBe("RUNNING");

      // Charged: the two minutes before, the minute it was last seen in (started minutes count, as at a stop), and one after.
      const rows = await charges(vm.id);
      expect(rows.map((r) => r.amount)).toEqual(Array(4).fill(-costOfMinutes(vm, 1)));
      expect(await balanceOf(t.db, user.id)).toBeCloseTo(env().CREDITS_INITIAL - 4 * costOfMinutes(vm, 1), 6);
      // Every entry says which minute it covers, and none of them is a minute of the downtime.
      const spans = rows.map((r) => spanOf(r.reason));
      expect(spans.map(([from, to]) => to - from)).toEqual([MIN, MIN, MIN, MIN]);
      expect(spans[0]![0]).toBe(sec(start));
      for (const [from, to] of spans) expect(to <= sec(start + 3 * MIN) || from >= sec(backAt)).toBe(true);
      // One event names the free span, from the end of the last charged minute to the first sighting after the restart.
      const [event, ...more] = await gapEvents(vm.id);
      expect(more).toEqual([]);
      expect(event!.targetUserId).toBe(user.id);
      expect(event!.message).toContain(`${vm.name} is not charged for ${hms(start + 3 * MIN)}–`);
      expect(event!.message).toContain("Twarga Cloud was not watching it then (the app or its host was down), so those minutes are free.");
    } finally {
      await app.stop();
      vi.useRealTimers();
      if (vmId) await t.db.vm.update({ where: { id: vmId }, data: { meteredUntil: null } }); // out of the other tests' passes
    }
  });
});

describe("metering gaps, pass by pass", () => {
  let runner: VmJobRunner;
  beforeEach(() => {
    runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
  });
  afterEach(async () => runner.stop());
  const stopper = (vmId: string) => systemStopVm(t.db, vmId);

  async function runningVm(name: string) {
    const { vm } = await createVm(t.db, user, { name: `${name}-${n}`, boxId, ...SPEC }, noRequest);
    await runner.idle();
    expect((await row(vm.id)).state).toBe("RUNNING");
    return vm;
  }

  it("charges a late pass in full while it is within METERING_MAX_GAP_S, and skips a longer gap", async () => {
    const vm = await runningVm("late");
    const start = (await row(vm.id)).meteredUntil!.getTime();
    const charged = async (at: number) => (await meterRunningVms(t.db, new Date(at), stopper)).charged.filter((c) => c.vmId === vm.id).map((c) => c.amount);
    expect(env().METERING_MAX_GAP_S).toBe(120);
    expect(await charged(start + MIN + 30_000)).toEqual([costOfMinutes(vm, 1)]);
    // 115 s after the last pass: late, but seen on both sides of it, so both whole minutes are charged.
    expect(await charged(start + 3 * MIN + 25_000)).toEqual([costOfMinutes(vm, 2)]);
    // 125 s after that: a gap. Only the started minute it was last seen in is charged, nothing of the gap.
    const seenAgain = start + 5 * MIN + 30_000;
    expect(await charged(seenAgain)).toEqual([costOfMinutes(vm, 1)]);
    expect((await row(vm.id)).meteredUntil!.getTime()).toBe(seenAgain);
    // Metering goes on from the new sighting.
    expect(await charged(seenAgain + MIN)).toEqual([costOfMinutes(vm, 1)]);
    const reasons = (await charges(vm.id)).map((r) => r.reason);
    expect(reasons.at(-1)).toBe(
      `${vm.name}: 1 min running, ${hms(seenAgain)}–${hms(seenAgain + MIN)} UTC on ${new Date(seenAgain).toISOString().slice(0, 10)}`,
    );
    const [event] = await gapEvents(vm.id);
    expect(event!.message).toContain(`is not charged for ${hms(start + 4 * MIN)}–${hms(seenAgain)} UTC`);
    await requestVmOperation(t.db, user, vm.id, "stop", {}, noRequest);
    await runner.idle();
  });

  it("a stop right after the app was down (before any pass) charges no backlog", async () => {
    const vm = await runningVm("stop-after-gap");
    // As the app left it 30 minutes ago: metered to 31 minutes ago, last seen by the meter 30 minutes ago.
    const meteredUntil = new Date(Date.now() - 31 * MIN);
    await t.db.vm.update({ where: { id: vm.id }, data: { meteredUntil, lastSeenRunningAt: new Date(meteredUntil.getTime() + MIN) } });
    await requestVmOperation(t.db, user, vm.id, "stop", {}, noRequest);
    await runner.idle();
    expect(await row(vm.id)).toMatchObject({ state: "STOPPED", meteredUntil: null });
    const rows = await charges(vm.id);
    // The last minute it was seen in, not 31.
    expect(rows.map((r) => r.amount)).toEqual([-costOfMinutes(vm, 1)]);
    expect(spanOf(rows[0]!.reason)).toEqual([sec(meteredUntil.getTime()), sec(meteredUntil.getTime() + MIN)]);
    expect(await gapEvents(vm.id)).toHaveLength(1);
  });
});
