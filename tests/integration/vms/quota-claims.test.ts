// Quotas and credits hold under concurrency (src/server/vms/quotas.ts,
// withQuotaClaim): many requests at once through the app's own launch, start,
// restart and admin-start paths, on SQLite and on PostgreSQL, and exactly as
// many win as the quota or the balance has room for. No job runner here: the
// claims are what is tested, and the queued jobs are left as they are.
import { makeUser, noRequest, tinyBox } from "./harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVIDERS } from "../db/providers";
import { createTestDb, type TestDb } from "../../support/db";
import type { Actor } from "~/server/permissions";
import { adminSetUserQuota, adminStartVm } from "~/server/vms/admin-actions";
import { addLedgerEntry, balanceOf, currentBalance } from "~/server/vms/ledger";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { hourlyCost } from "~/server/vms/pricing";
import type { Quota } from "~/server/vms/quotas";

type Spec = { cpus: number; ramMb: number; diskGb: number };
const SPEC: Spec = { cpus: 1, ramMb: 512, diskGb: 10 };

/** Settled results split into the accepted values and the refusals' messages. */
function split<T>(results: PromiseSettledResult<T>[]) {
  const accepted = results.filter((r): r is PromiseFulfilledResult<T> => r.status === "fulfilled").map((r) => r.value);
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as { code?: string; message: string });
  return { accepted, refused };
}

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`quota claims under concurrency (${title})`, () => {
    let t: TestDb;
    let admin: Actor;
    let boxId: string;
    let n = 0;

    beforeAll(async () => {
      t = await createTestDb({ provider });
      boxId = (await tinyBox(t.db)).id;
      admin = await makeUser(t.db, `admin-${provider}@example.com`, "ADMIN");
    });
    afterAll(async () => t.close());

    const newUser = () => makeUser(t.db, `claims${++n}-${provider}@example.com`);
    const launches = (user: Actor, count: number, spec: Spec = SPEC) =>
      Promise.allSettled(Array.from({ length: count }, (_, i) => createVm(t.db, user, { name: `q${n}-${i}`, boxId, ...spec }, noRequest)));
    const liveVms = (userId: string) => t.db.vm.count({ where: { ownerId: userId, state: { not: "DESTROYED" } } });
    /** VMs in a state, made directly (what a finished create or stop leaves), so a test can start or restart them. */
    const vmsIn = (userId: string, state: "STOPPED" | "RUNNING", count: number, spec: Spec = SPEC) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          t.db.vm.create({ data: { name: `s${n}-${i}`, activeName: `s${n}-${i}`, ownerId: userId, boxId, driver: "qemu", state, ...spec } }),
        ),
      );
    /** Leaves the user a balance of exactly `amount`. */
    async function setBalance(userId: string, amount: number) {
      const now = await currentBalance(t.db, userId);
      await addLedgerEntry(t.db, { userId, kind: "CHARGE", amount: -(now - amount), reason: "test: spent elsewhere" });
      expect(await balanceOf(t.db, userId)).toBeCloseTo(amount, 6);
    }

    it("20 parallel launches by one user whose quota allows 3: exactly 3 are accepted, the rest get the quota message", async () => {
      const user = await newUser();
      await adminSetUserQuota(t.db, admin, user.id, { maxVms: 3 });
      const { accepted, refused } = split(await launches(user, 20));
      expect(accepted).toHaveLength(3);
      expect(refused).toHaveLength(17);
      for (const err of refused)
        expect(err).toMatchObject({ code: "PRECONDITION_FAILED", message: "Quota reached: at most 3 VMs (you have 3). Destroy one first." });
      expect(await liveVms(user.id)).toBe(3);
      expect(await t.db.vmJob.count({ where: { vm: { ownerId: user.id }, kind: "CREATE" } })).toBe(3);
      // Every claim took the user's lock row, the refused ones included.
      expect(await t.db.userQuotaLock.findUnique({ where: { userId: user.id } })).toMatchObject({ claims: 20 });
    });

    const totals: Array<{ quota: Partial<Quota>; spec: Spec; message: string }> = [
      { quota: { maxCpus: 6 }, spec: { ...SPEC, cpus: 2 }, message: "Quota reached: at most 6 vCPUs in total (you use 6, this VM asks for 2)." },
      {
        quota: { maxRamMb: 3072 },
        spec: { ...SPEC, ramMb: 1024 },
        message: "Quota reached: at most 3072 MB of RAM in total (you use 3072 MB, this VM asks for 1024 MB).",
      },
      {
        quota: { maxDiskGb: 45 },
        spec: { ...SPEC, diskGb: 15 },
        message: "Quota reached: at most 45 GB of disk in total (you use 45 GB, this VM asks for 15 GB).",
      },
      { quota: { maxRunning: 3 }, spec: SPEC, message: "Quota reached: at most 3 VMs running at once. Stop one first." },
    ];
    for (const { quota, spec, message } of totals) {
      it(`12 parallel launches against ${Object.keys(quota)[0]} with room for 3: exactly 3 (PENDING and CREATING count)`, async () => {
        const user = await newUser();
        await adminSetUserQuota(t.db, admin, user.id, { maxVms: 50, ...quota });
        const { accepted, refused } = split(await launches(user, 12, spec));
        expect(accepted).toHaveLength(3);
        for (const err of refused) expect(err).toMatchObject({ code: "PRECONDITION_FAILED", message });
        expect(await liveVms(user.id)).toBe(3);
      });
    }

    it("12 parallel launches with credits for exactly 3 hours of VMs: exactly 3", async () => {
      const user = await newUser();
      await adminSetUserQuota(t.db, admin, user.id, { maxVms: 50, maxRunning: 50 });
      await setBalance(user.id, 3 * hourlyCost(SPEC));
      const { accepted, refused } = split(await launches(user, 12));
      expect(accepted).toHaveLength(3);
      for (const err of refused)
        expect(err).toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(/^Not enough credits: running this for one hour needs/) });
    });

    it("a balance that covers exactly one more hour, with 5 parallel starts: exactly one succeeds", async () => {
      const user = await newUser();
      const vms = await vmsIn(user.id, "STOPPED", 5);
      await setBalance(user.id, hourlyCost(SPEC));
      const { accepted, refused } = split(await Promise.allSettled(vms.map((vm) => requestVmOperation(t.db, user, vm.id, "start", {}, noRequest))));
      expect(accepted).toHaveLength(1);
      expect(refused).toHaveLength(4);
      const cost = hourlyCost(SPEC).toFixed(2);
      for (const err of refused)
        expect(err).toMatchObject({
          code: "PRECONDITION_FAILED",
          message: `Not enough credits: running this for one hour needs ${(2 * hourlyCost(SPEC)).toFixed(2)} credits (including ${cost}/h for the VMs already running), and your balance is ${cost}.`,
        });
      expect(await t.db.vm.count({ where: { ownerId: user.id, state: "STARTING" } })).toBe(1);
      expect(await t.db.vmJob.count({ where: { vm: { ownerId: user.id }, kind: "START" } })).toBe(1);
    });

    it("admin starts take the owner's claim too: 5 at once with room for 2 running, exactly 2", async () => {
      const user = await newUser();
      await adminSetUserQuota(t.db, admin, user.id, { maxRunning: 2 });
      const vms = await vmsIn(user.id, "STOPPED", 5);
      const { accepted, refused } = split(await Promise.allSettled(vms.map((vm) => adminStartVm(t.db, admin, vm.id, noRequest))));
      expect(accepted).toHaveLength(2);
      for (const err of refused)
        expect(err).toMatchObject({ code: "PRECONDITION_FAILED", message: "Quota reached: at most 2 VMs running at once. Stop one first." });
      // The owner's lock row, not the admin's.
      expect(await t.db.userQuotaLock.findUnique({ where: { userId: user.id } })).toMatchObject({ claims: 5 });
      expect(await t.db.userQuotaLock.findUnique({ where: { userId: admin.id } })).toBeNull();
    });

    it("a start racing launches for the last running slot: exactly one of them gets it", async () => {
      const user = await newUser();
      await adminSetUserQuota(t.db, admin, user.id, { maxRunning: 1 });
      const [stopped] = await vmsIn(user.id, "STOPPED", 1);
      const results = await Promise.allSettled<unknown>([
        requestVmOperation(t.db, user, stopped!.id, "start", {}, noRequest),
        ...Array.from({ length: 6 }, (_, i) => createVm(t.db, user, { name: `race${n}-${i}`, boxId, ...SPEC }, noRequest)),
      ]);
      expect(split(results).accepted).toHaveLength(1);
      expect(await t.db.vm.count({ where: { ownerId: user.id, state: { in: ["PENDING", "CREATING", "STARTING"] } } })).toBe(1);
    });

    it("a restart keeps a running VM counted once: allowed at a full running quota, refused when the balance does not cover the next hour", async () => {
      const user = await newUser();
      await adminSetUserQuota(t.db, admin, user.id, { maxRunning: 2 });
      const [a, b] = await vmsIn(user.id, "RUNNING", 2);
      // Both run, the quota is full, the balance covers exactly the next hour of both: a restart adds nothing, so it goes through.
      await setBalance(user.id, 2 * hourlyCost(SPEC));
      await expect(requestVmOperation(t.db, user, a!.id, "restart", {}, noRequest)).resolves.toMatchObject({ kind: "RESTART" });
      // Less than the next hour of what runs: a reboot is refused (a stop never is).
      await setBalance(user.id, 2 * hourlyCost(SPEC) - 0.01);
      const cost = (2 * hourlyCost(SPEC)).toFixed(2);
      await expect(requestVmOperation(t.db, user, b!.id, "restart", {}, noRequest)).rejects.toMatchObject({
        code: "PRECONDITION_FAILED",
        message: `Not enough credits: your running VMs, this one included, need ${cost} credits for the next hour, and your balance is ${(2 * hourlyCost(SPEC) - 0.01).toFixed(2)}.`,
      });
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: b!.id } })).state).toBe("RUNNING");
      await expect(requestVmOperation(t.db, user, b!.id, "stop", {}, noRequest)).resolves.toMatchObject({ kind: "STOP" });
    });

    it("a busy VM is refused as busy, not with a quota it would not cross", async () => {
      const user = await newUser();
      await adminSetUserQuota(t.db, admin, user.id, { maxRunning: 1 });
      const [vm] = await vmsIn(user.id, "STOPPED", 1);
      const results = split(await Promise.allSettled([1, 2, 3].map(() => requestVmOperation(t.db, user, vm!.id, "start", {}, noRequest))));
      expect(results.accepted).toHaveLength(1);
      for (const err of results.refused) expect(err).toMatchObject({ code: "CONFLICT" });
    });
  });
}
