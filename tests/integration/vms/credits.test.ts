// Quotas, the credit ledger and per-minute metering, with the stand-in vagrant.
import { controlFakeVagrant, makeUser, noRequest, testDbProvider, tinyBox } from "./harness";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { env } from "~/server/env";
import { grantCredits } from "~/server/admin/credit-grants";
import { stopAllRunningVms, adminSetUserQuota } from "~/server/vms/admin-actions";
import { addLedgerEntry, balanceOf, currentBalance } from "~/server/vms/ledger";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { meterRunningVms } from "~/server/vms/metering";
import { hourlyCost, costOfMinutes } from "~/server/vms/pricing";
import { myAccount } from "~/server/vms/queries";
import { systemStopVm } from "~/server/vms/services";
import { VmJobRunner } from "~/server/vms/runner";
import type { Actor } from "~/server/permissions";

let t: TestDb;
let runner: VmJobRunner;
let user: Actor;
let admin: Actor;
let boxId: string;
let n = 0;
const spec = (over: Partial<{ cpus: number; ramMb: number; diskGb: number }> = {}) => ({ name: `c-${++n}`, boxId, cpus: 2, ramMb: 2048, diskGb: 20, ...over });
const MIN = 60_000;

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  admin = await makeUser(t.db, "admin@example.com", "ADMIN");
});
afterAll(async () => t.close());
beforeEach(async () => {
  controlFakeVagrant({});
  user = await makeUser(t.db, `user${++n}@example.com`);
  runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
});
afterEach(async () => runner.stop());

const stopper = (vmId: string) => systemStopVm(t.db, vmId);

describe("ledger", () => {
  it("starts every user with the initial grant, once", async () => {
    await Promise.all([currentBalance(t.db, user.id), currentBalance(t.db, user.id), currentBalance(t.db, user.id)]);
    expect(await balanceOf(t.db, user.id)).toBe(env().CREDITS_INITIAL);
    expect(await t.db.creditLedgerEntry.count({ where: { userId: user.id } })).toBe(1);
  });

  it("changes a balance only by adding rows; an admin grant is audited", async () => {
    await currentBalance(t.db, user.id);
    const { balance } = await grantCredits(t.db, admin, { userId: user.id, amount: 25, reason: "course project" });
    expect(balance).toBe(env().CREDITS_INITIAL + 25);
    await expect(grantCredits(t.db, user, { userId: user.id, amount: 25, reason: "me" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const rows = await t.db.creditLedgerEntry.findMany({ where: { userId: user.id }, orderBy: { createdAt: "asc" } });
    expect(rows.map((r) => [r.kind, r.amount])).toEqual([
      ["GRANT", env().CREDITS_INITIAL],
      ["GRANT", 25],
    ]);
    expect(rows[1]).toMatchObject({ actorId: admin.id, reason: "course project" });
    expect(await t.db.event.count({ where: { action: "credits.grant", targetUserId: user.id } })).toBe(1);
  });
});

describe("metering", () => {
  it("charges running VMs by the minute, once per minute, and stops them at zero", async () => {
    const { vm } = await createVm(t.db, user, spec(), noRequest);
    await runner.idle();
    const start = (await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).meteredUntil!;
    const perMinute = costOfMinutes(vm, 1);
    expect(perMinute).toBeCloseTo(hourlyCost(vm) / 60, 6);

    // A pass a minute, 30 s past each whole minute: each charges the one whole minute since the last.
    const pass = (minute: number) => new Date(start.getTime() + minute * MIN + 30_000);
    for (let minute = 1; minute <= 10; minute++) {
      const result = await meterRunningVms(t.db, pass(minute), stopper);
      expect(result.charged).toEqual([{ vmId: vm.id, userId: user.id, amount: perMinute }]);
    }
    expect((await meterRunningVms(t.db, pass(10), stopper)).charged).toEqual([]); // same instant: nothing more
    expect(await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).toMatchObject({
      meteredUntil: new Date(start.getTime() + 10 * MIN),
      lastSeenRunningAt: pass(10),
    });
    expect(await balanceOf(t.db, user.id)).toBeCloseTo(env().CREDITS_INITIAL - 10 * perMinute, 6);

    // Spent elsewhere down to a minute and a half of this VM: the second pass after it runs the balance out.
    await addLedgerEntry(t.db, {
      userId: user.id,
      kind: "CHARGE",
      amount: -((await balanceOf(t.db, user.id)) - 1.5 * perMinute),
      reason: "test: spent elsewhere",
    });
    expect((await meterRunningVms(t.db, pass(11), stopper)).exhausted).toEqual([]);
    const later = pass(12);
    const second = await meterRunningVms(t.db, later, stopper);
    expect(second.exhausted).toEqual([user.id]);
    expect(await balanceOf(t.db, user.id)).toBeLessThanOrEqual(0);
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("STOPPING");
    await runner.idle();
    const stopped = await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect(stopped).toMatchObject({ state: "STOPPED", meteredUntil: null });
    const stopJob = await t.db.vmJob.findFirstOrThrow({ where: { vmId: vm.id, kind: "STOP" } });
    expect(stopJob.requestedByEmail).toBe("system");
    const event = await t.db.event.findFirstOrThrow({ where: { action: "credits.exhausted", targetUserId: user.id } });
    expect(event.severity).toBe("WARNING");
    expect(event.message).toContain(vm.name);

    // Every change is a row; the balance is their sum.
    const rows = await t.db.creditLedgerEntry.findMany({ where: { userId: user.id } });
    expect(rows.every((r) => r.kind === "GRANT" || r.amount < 0)).toBe(true);
    expect(await balanceOf(t.db, user.id)).toBeCloseTo(
      rows.reduce((s, r) => s + r.amount, 0),
      6,
    );

    // Nothing more is charged once the VM is down, and it cannot start without credits.
    expect((await meterRunningVms(t.db, new Date(later.getTime() + 60 * MIN), stopper)).charged).toEqual([]);
    await expect(requestVmOperation(t.db, user, vm.id, "start", {}, noRequest)).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
      message: expect.stringContaining("Not enough credits"),
    });
  });

  it("charges a started partial minute when the VM stops", async () => {
    const { vm } = await createVm(t.db, user, spec({ cpus: 1, ramMb: 1024, diskGb: 10 }), noRequest);
    await runner.idle();
    await requestVmOperation(t.db, user, vm.id, "stop", {}, noRequest);
    await runner.idle();
    const charges = await t.db.creditLedgerEntry.findMany({ where: { userId: user.id, kind: "CHARGE" } });
    expect(charges.map((c) => c.amount)).toEqual([-costOfMinutes(vm, 1)]);
    expect(charges[0]!.vmId).toBe(vm.id);
  });

  it("warns once when the balance crosses the low line", async () => {
    const { vm } = await createVm(t.db, user, spec(), noRequest);
    await runner.idle();
    const start = (await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).meteredUntil!;
    // Half a minute of this VM above the line: the first pass crosses it, the second stays below.
    const perMinute = costOfMinutes(vm, 1);
    const balance = await balanceOf(t.db, user.id);
    await addLedgerEntry(t.db, {
      userId: user.id,
      kind: "CHARGE",
      amount: -(balance - env().CREDITS_LOW_WARNING - 0.5 * perMinute),
      reason: "test: spent elsewhere",
    });
    await meterRunningVms(t.db, new Date(start.getTime() + MIN), stopper);
    await meterRunningVms(t.db, new Date(start.getTime() + 2 * MIN), stopper);
    expect(await t.db.event.count({ where: { action: "credits.low", targetUserId: user.id } })).toBe(1);
    expect((await myAccount(t.db, user)).lowBalance).toBe(true);
  });
});

describe("quotas and affordability", () => {
  it("refuses a launch over a quota, naming the limit", async () => {
    await adminSetUserQuota(t.db, admin, user.id, { maxVms: 1 });
    await createVm(t.db, user, spec(), noRequest);
    await expect(createVm(t.db, user, spec(), noRequest)).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
      message: expect.stringContaining("at most 1 VMs"),
    });
    await adminSetUserQuota(t.db, admin, user.id, { maxVms: null, maxCpus: 3 });
    await expect(createVm(t.db, user, spec(), noRequest)).rejects.toMatchObject({ message: expect.stringContaining("at most 3 vCPUs") });
    await adminSetUserQuota(t.db, admin, user.id, { maxCpus: null, maxRamMb: 3000 });
    await expect(createVm(t.db, user, spec(), noRequest)).rejects.toMatchObject({ message: expect.stringContaining("3000 MB of RAM") });
    await adminSetUserQuota(t.db, admin, user.id, { maxRamMb: null, maxDiskGb: 30 });
    await expect(createVm(t.db, user, spec(), noRequest)).rejects.toMatchObject({ message: expect.stringContaining("30 GB of disk") });
    await adminSetUserQuota(t.db, admin, user.id, { maxDiskGb: null, maxRunning: 1 });
    await expect(createVm(t.db, user, spec(), noRequest)).rejects.toMatchObject({ message: expect.stringContaining("1 VMs running at once") });
    await runner.idle();
  });

  it("refuses a launch the user cannot afford for an hour", async () => {
    await currentBalance(t.db, user.id);
    await addLedgerEntry(t.db, { userId: user.id, kind: "CHARGE", amount: -(env().CREDITS_INITIAL - 1), reason: "test: spent elsewhere" });
    const err = await createVm(t.db, user, spec(), noRequest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "PRECONDITION_FAILED" });
    expect((err as Error).message).toBe(
      `Not enough credits: running this for one hour needs ${hourlyCost(spec()).toFixed(2)} credits, and your balance is 1.00.`,
    );
    expect(await t.db.vm.count({ where: { ownerId: user.id } })).toBe(0);
  });

  it("refuses a duplicate name among live VMs, and a box below its minimums", async () => {
    const first = spec({ cpus: 1, ramMb: 512, diskGb: 10 });
    await createVm(t.db, user, first, noRequest);
    await expect(createVm(t.db, user, { ...first }, noRequest)).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining(first.name) });
    const other = await makeUser(t.db, `other${n}@example.com`);
    await expect(createVm(t.db, other, { ...first }, noRequest)).resolves.toBeTruthy(); // names are per user
    await t.db.box.update({ where: { id: boxId }, data: { minRamMb: 1024 } });
    try {
      await expect(createVm(t.db, user, spec({ ramMb: 512 }), noRequest)).rejects.toMatchObject({
        code: "BAD_REQUEST",
        message: expect.stringContaining("at least 1024 MB of RAM"),
      });
    } finally {
      await t.db.box.update({ where: { id: boxId }, data: { minRamMb: 512 } });
    }
    await runner.idle();
  });

  it("lets an admin stop every running VM", async () => {
    const { vm } = await createVm(t.db, user, spec({ cpus: 1, ramMb: 512, diskGb: 10 }), noRequest);
    await runner.idle();
    await expect(stopAllRunningVms(t.db, user, "no")).rejects.toMatchObject({ code: "FORBIDDEN" });
    const result = await stopAllRunningVms(t.db, admin, "maintenance");
    expect(result.requested).toContain(vm.id);
    await runner.idle();
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("STOPPED");
  });
});
