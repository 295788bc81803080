// Keys added and removed later reach running VMs: at once through
// scheduleKeySync, and within the minute through the sweep (which is also how
// removals and changes made by another process arrive). Against the stand-in
// guests of the stand-in vagrant, for real.
import { makeUser, noRequest } from "../vms/harness";
import { guestRunnerWorld } from "./guest-runner";
import { addUserKey, guestAuthorizedKeys, guestExecs, guestTarget, sshRun } from "./guest-world";
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { keySyncIdle, scheduleKeySync, startKeySync, sweepKeySync } from "~/server/access/key-sync";
import type { Actor } from "~/server/permissions";
import { requestVmOperation } from "~/server/vms/lifecycle";

const world = guestRunnerWorld("sync");
let alice: Actor;
const keysIn = (vmId: string) => readFileSync(guestAuthorizedKeys(vmId), "utf8");
const keyWrites = (vmId: string) => guestExecs(vmId).filter((x) => x.label === "sh");
const runningVm = (actor: Actor) => world.launch(actor);

beforeEach(async () => {
  alice = await world.user("alice");
});

describe("a key added", () => {
  it("reaches every running VM of its owner at once, and no one else's", async () => {
    const [a, b] = [await runningVm(alice), await runningVm(alice)];
    const bob = await makeUser(world.db, `bob${world.n}@example.com`);
    const bobs = await runningVm(bob);
    const stopped = await runningVm(alice);
    await requestVmOperation(world.db, alice, stopped.id, "stop", {}, noRequest);
    await world.runner.idle();
    const writesBefore = keyWrites(stopped.id).length;

    const key = await addUserKey(world.db, alice.id, "new laptop");
    scheduleKeySync(world.db, alice.id);
    await keySyncIdle();
    for (const vm of [a, b]) {
      expect(keysIn(vm.id)).toContain(`${key.publicKey} new laptop\n`);
      expect((await sshRun(await guestTarget(world.db, vm.id), { privateKey: key.privateKey }, "echo in")).stdout).toBe("in\n");
    }
    expect(keysIn(bobs.id)).not.toContain(key.publicKey);
    await expect(sshRun(await guestTarget(world.db, bobs.id), { privateKey: key.privateKey }, "true")).rejects.toThrow(/authentication methods failed/);
    // A stopped VM is not touched; it gets the key when it starts.
    expect(keyWrites(stopped.id)).toHaveLength(writesBefore);
    await requestVmOperation(world.db, alice, stopped.id, "start", {}, noRequest);
    await world.runner.idle();
    expect(keysIn(stopped.id)).toContain(key.publicKey);
  });
});

describe("the sweep", () => {
  it("takes a removed key out of running VMs and leaves VMs in step alone", async () => {
    const vm = await runningVm(alice);
    const key = await addUserKey(world.db, alice.id, "old laptop");
    scheduleKeySync(world.db, alice.id);
    await keySyncIdle();
    expect(keysIn(vm.id)).toContain(key.publicKey);

    // Removed by a process that syncs nothing (a web-only replica): only the sweep sees it.
    await world.db.sshKey.delete({ where: { id: key.row.id } });
    const writes = keyWrites(vm.id).length;
    expect(await sweepKeySync(world.db)).toBeGreaterThanOrEqual(1);
    await keySyncIdle();
    expect(keysIn(vm.id)).not.toContain(key.publicKey);
    expect(keyWrites(vm.id)).toHaveLength(writes + 1);
    await expect(sshRun(await guestTarget(world.db, vm.id), { privateKey: key.privateKey }, "true")).rejects.toThrow(/authentication methods failed/);

    // In step now: a second pass writes nothing into it.
    await sweepKeySync(world.db);
    await keySyncIdle();
    expect(keyWrites(vm.id)).toHaveLength(writes + 1);
  });

  it("runs as a service: a sweep at start and then on its interval", async () => {
    const vm = await runningVm(alice);
    const key = await addUserKey(world.db, alice.id, "from the replica");
    const service = startKeySync(world.db, { everyMs: 200 });
    try {
      for (let i = 0; i < 100 && !keysIn(vm.id).includes(key.publicKey); i++) await new Promise((r) => setTimeout(r, 50));
      expect(keysIn(vm.id)).toContain(key.publicKey);
      await world.db.sshKey.delete({ where: { id: key.row.id } });
      for (let i = 0; i < 100 && keysIn(vm.id).includes(key.publicKey); i++) await new Promise((r) => setTimeout(r, 50));
      expect(keysIn(vm.id)).not.toContain(key.publicKey);
    } finally {
      await service.stop();
    }
  });

  it("leaves a VM not yet moved to its own key for its next start", async () => {
    const vm = await runningVm(alice);
    await world.db.vm.update({ where: { id: vm.id }, data: { keysSyncedAt: null } });
    await addUserKey(world.db, alice.id, "waits");
    const writes = keyWrites(vm.id).length;
    scheduleKeySync(world.db, alice.id);
    await sweepKeySync(world.db);
    await keySyncIdle();
    expect(keyWrites(vm.id)).toHaveLength(writes);
  });
});

describe("per VM", () => {
  it("never writes twice at once, and folds a burst of requests into few writes", async () => {
    const vm = await runningVm(alice);
    const writes = keyWrites(vm.id).length;
    for (let i = 0; i < 5; i++) {
      await addUserKey(world.db, alice.id, `burst ${i}`);
      scheduleKeySync(world.db, alice.id);
    }
    await sweepKeySync(world.db);
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
    await addUserKey(world.db, alice.id, "unreachable");
    const realPort = vm.sshPort;
    await world.db.vm.update({ where: { id: vm.id }, data: { sshPort: 1 } });
    for (let i = 0; i < 3; i++) {
      scheduleKeySync(world.db, alice.id);
      await keySyncIdle();
    }
    const failures = await world.db.event.findMany({ where: { targetVmId: vm.id, action: "vm.keys.sync-failed" } });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ severity: "WARNING", targetUserId: alice.id });
    expect(failures[0]!.message).toContain(
      `${vm.name}: its owner's SSH keys could not be written into the guest: could not log in to the guest at ${vm.ipAddress}:1`,
    );

    await world.db.vm.update({ where: { id: vm.id }, data: { sshPort: realPort } });
    scheduleKeySync(world.db, alice.id);
    await keySyncIdle();
    expect(keysIn(vm.id)).toContain(" unreachable\n");
    // A new failure after a success is news again.
    await world.db.vm.update({ where: { id: vm.id }, data: { sshPort: 1 } });
    scheduleKeySync(world.db, alice.id);
    await keySyncIdle();
    expect(await world.db.event.count({ where: { targetVmId: vm.id, action: "vm.keys.sync-failed" } })).toBe(2);
    await world.db.vm.update({ where: { id: vm.id }, data: { sshPort: realPort } });
  });
});
