// Keys added and removed later reach running VMs: at once through
// scheduleKeySync, and within the minute through the sweep (which is also how
// removals and changes made by another process arrive). Against the stand-in
// guests of the stand-in vagrant, for real.
import { makeUser, noRequest, testDbProvider, tinyBox } from "../vms/harness";
import { addUserKey, guestAuthorizedKeys, guestExecs, guestTarget, sshRun } from "./guest-world";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { keySyncIdle, scheduleKeySync, startKeySync, sweepKeySync } from "~/server/access/key-sync";
import type { Actor } from "~/server/permissions";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { VmJobRunner } from "~/server/vms/runner";

let t: TestDb;
let runner: VmJobRunner;
let alice: Actor;
let boxId: string;
let n = 0;
const spec = () => ({ name: `sync-${++n}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 });
const keysIn = (vmId: string) => readFileSync(guestAuthorizedKeys(vmId), "utf8");
const keyWrites = (vmId: string) => guestExecs(vmId).filter((x) => x.label === "sh");

async function runningVm(actor: Actor) {
  const { vm } = await createVm(t.db, actor, spec(), noRequest);
  await runner.idle();
  return t.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
}

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
});
afterAll(async () => {
  await runner.stop();
  await t.close();
});
beforeEach(async () => {
  alice = await makeUser(t.db, `alice${++n}@example.com`);
});

describe("a key added", () => {
  it("reaches every running VM of its owner at once, and no one else's", async () => {
    const [a, b] = [await runningVm(alice), await runningVm(alice)];
    const bob = await makeUser(t.db, `bob${n}@example.com`);
    const bobs = await runningVm(bob);
    const stopped = await runningVm(alice);
    await requestVmOperation(t.db, alice, stopped.id, "stop", {}, noRequest);
    await runner.idle();
    const writesBefore = keyWrites(stopped.id).length;

    const key = await addUserKey(t.db, alice.id, "new laptop");
    scheduleKeySync(t.db, alice.id);
    await keySyncIdle();
    for (const vm of [a, b]) {
      expect(keysIn(vm.id)).toContain(`${key.publicKey} new laptop\n`);
      expect((await sshRun(await guestTarget(t.db, vm.id), { privateKey: key.privateKey }, "echo in")).stdout).toBe("in\n");
    }
    expect(keysIn(bobs.id)).not.toContain(key.publicKey);
    await expect(sshRun(await guestTarget(t.db, bobs.id), { privateKey: key.privateKey }, "true")).rejects.toThrow(/authentication methods failed/);
    // A stopped VM is not touched; it gets the key when it starts.
    expect(keyWrites(stopped.id)).toHaveLength(writesBefore);
    await requestVmOperation(t.db, alice, stopped.id, "start", {}, noRequest);
    await runner.idle();
    expect(keysIn(stopped.id)).toContain(key.publicKey);
  });
});

describe("the sweep", () => {
  it("takes a removed key out of running VMs and leaves VMs in step alone", async () => {
    const vm = await runningVm(alice);
    const key = await addUserKey(t.db, alice.id, "old laptop");
    scheduleKeySync(t.db, alice.id);
    await keySyncIdle();
    expect(keysIn(vm.id)).toContain(key.publicKey);

    // Removed by a process that syncs nothing (a web-only replica): only the sweep sees it.
    await t.db.sshKey.delete({ where: { id: key.row.id } });
    const writes = keyWrites(vm.id).length;
    expect(await sweepKeySync(t.db)).toBeGreaterThanOrEqual(1);
    await keySyncIdle();
    expect(keysIn(vm.id)).not.toContain(key.publicKey);
    expect(keyWrites(vm.id)).toHaveLength(writes + 1);
    await expect(sshRun(await guestTarget(t.db, vm.id), { privateKey: key.privateKey }, "true")).rejects.toThrow(/authentication methods failed/);

    // In step now: a second pass writes nothing into it.
    await sweepKeySync(t.db);
    await keySyncIdle();
    expect(keyWrites(vm.id)).toHaveLength(writes + 1);
  });

  it("runs as a service: a sweep at start and then on its interval", async () => {
    const vm = await runningVm(alice);
    const key = await addUserKey(t.db, alice.id, "from the replica");
    const service = startKeySync(t.db, { everyMs: 200 });
    try {
      for (let i = 0; i < 100 && !keysIn(vm.id).includes(key.publicKey); i++) await new Promise((r) => setTimeout(r, 50));
      expect(keysIn(vm.id)).toContain(key.publicKey);
      await t.db.sshKey.delete({ where: { id: key.row.id } });
      for (let i = 0; i < 100 && keysIn(vm.id).includes(key.publicKey); i++) await new Promise((r) => setTimeout(r, 50));
      expect(keysIn(vm.id)).not.toContain(key.publicKey);
    } finally {
      await service.stop();
    }
  });

  it("leaves a VM not yet moved to its own key for its next start", async () => {
    const vm = await runningVm(alice);
    await t.db.vm.update({ where: { id: vm.id }, data: { keysSyncedAt: null } });
    await addUserKey(t.db, alice.id, "waits");
    const writes = keyWrites(vm.id).length;
    scheduleKeySync(t.db, alice.id);
    await sweepKeySync(t.db);
    await keySyncIdle();
    expect(keyWrites(vm.id)).toHaveLength(writes);
  });
});

describe("per VM", () => {
  it("never writes twice at once, and folds a burst of requests into few writes", async () => {
    const vm = await runningVm(alice);
    const writes = keyWrites(vm.id).length;
    for (let i = 0; i < 5; i++) {
      await addUserKey(t.db, alice.id, `burst ${i}`);
      scheduleKeySync(t.db, alice.id);
    }
    await sweepKeySync(t.db);
    await keySyncIdle();
    const burst = keyWrites(vm.id).slice(writes);
    expect(burst.length).toBeGreaterThanOrEqual(1);
    expect(burst.length).toBeLessThanOrEqual(3);
    const all = guestExecs(vm.id).sort((x, y) => x.startedAt - y.startedAt);
    for (let i = 1; i < all.length; i++)
      expect(all[i]!.startedAt, "a command started before the previous one ended").toBeGreaterThanOrEqual(all[i - 1]!.endedAt);
    // The last write holds every key.
    for (let i = 0; i < 5; i++) expect(keysIn(vm.id)).toContain(` burst ${i}\n`);
  });

  it("records a failure once, not on every attempt, and clears it when the guest answers again", async () => {
    const vm = await runningVm(alice);
    await addUserKey(t.db, alice.id, "unreachable");
    const realPort = vm.sshPort;
    await t.db.vm.update({ where: { id: vm.id }, data: { sshPort: 1 } });
    for (let i = 0; i < 3; i++) {
      scheduleKeySync(t.db, alice.id);
      await keySyncIdle();
    }
    const failures = await t.db.event.findMany({ where: { targetVmId: vm.id, action: "vm.keys.sync-failed" } });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ severity: "WARNING", targetUserId: alice.id });
    expect(failures[0]!.message).toContain(
      `${vm.name}: its owner's SSH keys could not be written into the guest: could not log in to the guest at ${vm.ipAddress}:1`,
    );

    await t.db.vm.update({ where: { id: vm.id }, data: { sshPort: realPort } });
    scheduleKeySync(t.db, alice.id);
    await keySyncIdle();
    expect(keysIn(vm.id)).toContain(" unreachable\n");
    // A new failure after a success is news again.
    await t.db.vm.update({ where: { id: vm.id }, data: { sshPort: 1 } });
    scheduleKeySync(t.db, alice.id);
    await keySyncIdle();
    expect(await t.db.event.count({ where: { targetVmId: vm.id, action: "vm.keys.sync-failed" } })).toBe(2);
    await t.db.vm.update({ where: { id: vm.id }, data: { sshPort: realPort } });
  });
});
