// VM actions on a host that cannot run VMs are refused with the readiness
// message (what is missing, how to fix it), before anything changes; the same
// actions pass once the host answers. The gate reads the readiness the host's
// background process stored in the database, so a web-only replica applies the
// same gate, and refuses when nobody has checked recently. The stand-in vagrant
// answers the readiness probes like the real one; libvirt is a socket nobody
// listens on for "not ready" and the real virsh's test driver for "ready".
import { makeUser, noRequest, tinyBox } from "./harness";
import { execaSync } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { env, parseEnv } from "~/server/env";
import { hostReadiness, recordHostReadiness } from "~/server/hypervisor/readiness";
import { hostId } from "~/server/leases";
import { assertHostReady, vmActionsStatus } from "~/server/vms/host-gate";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { stopAllRunningVms } from "~/server/vms/admin-actions";
import { VmJobRunner } from "~/server/vms/runner";

const hasVirsh = execaSync("sh", ["-c", "command -v virsh"], { reject: false }).exitCode === 0;

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => t.close());

describe.skipIf(!hasVirsh)("the host gate on VM actions", () => {
  const notReady = () => parseEnv({ ...process.env, LIBVIRT_URI: "qemu+unix:///system?socket=/nonexistent/libvirt-sock" });

  it("refuses a launch with the readiness message and leaves no VM behind", async () => {
    const alice = await makeUser(t.db, "gate-alice@example.com");
    const boxId = (await tinyBox(t.db)).id;
    // The background process checked with the broken setting and stored the answer; the launch itself uses the usual settings.
    await recordHostReadiness(t.db, notReady());
    const attempt = createVm(t.db, alice, { name: "gated", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
    await expect(attempt).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await expect(attempt).rejects.toThrow(
      /^VM actions are disabled: libvirt: failed to connect to the hypervisor.*Fix: start libvirtd .*scripts\/host-setup\.sh/,
    );
    expect(await t.db.vm.count({ where: { ownerId: alice.id } })).toBe(0);
    expect(await vmActionsStatus(t.db)).toMatchObject({ enabled: false, message: expect.stringMatching(/^VM actions are disabled: libvirt/) });
  });

  it("refuses stop on a running VM without touching its state, and allows it once the host answers", async () => {
    const alice = await makeUser(t.db, "gate-bob@example.com");
    const admin = await makeUser(t.db, "gate-admin@example.com", "ADMIN");
    const boxId = (await tinyBox(t.db)).id;
    const runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
    try {
      await recordHostReadiness(t.db, env());
      const { vm } = await createVm(t.db, alice, { name: "gated-run", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");

      await recordHostReadiness(t.db, notReady());
      await expect(requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest)).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
      await expect(stopAllRunningVms(t.db, admin, "drill", noRequest)).rejects.toThrow(/^VM actions are disabled/);
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
      expect(await t.db.vmJob.count({ where: { vmId: vm.id } })).toBe(1);

      // The admin's "check again" after fixing the host checks now and stores the answer.
      expect(await hostReadiness(t.db, { refresh: true })).toMatchObject({ ready: true, current: true });
      expect(await vmActionsStatus(t.db)).toEqual({ enabled: true, message: null });
      await requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest);
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("STOPPED");
    } finally {
      await runner.stop();
    }
  });

  it("applies the stored answer in a web-only replica, and refuses once no background process has checked recently", async () => {
    const webOnly = parseEnv({ ...process.env, BACKGROUND_SERVICES: "false" });
    await recordHostReadiness(t.db, notReady());
    const stored = await vmActionsStatus(t.db);
    expect(stored.enabled).toBe(false);
    expect(await vmActionsStatus(t.db, webOnly)).toEqual(stored);

    await recordHostReadiness(t.db, env());
    expect(await vmActionsStatus(t.db, webOnly)).toEqual({ enabled: true, message: null });

    // The checker stopped 3 intervals ago: the replica cannot check the host itself, so nothing is known and actions wait.
    const old = new Date(Date.now() - 3 * webOnly.HOST_CHECK_INTERVAL_S * 1000 - 1000);
    await t.db.hostStatus.update({ where: { host: hostId() }, data: { checkedAt: old } });
    await expect(assertHostReady(t.db, webOnly)).rejects.toThrow(
      /^VM actions are disabled: host readiness unknown, no background process has checked the host in the last 180 s\. .*BACKGROUND_SERVICES=true.* said: Ready: /,
    );
    expect((await t.db.hostStatus.findUniqueOrThrow({ where: { host: hostId() } })).checkedAt).toEqual(old); // it did not check

    // A process on the host with the background services checks again on a stale answer and stores it.
    expect(await vmActionsStatus(t.db)).toEqual({ enabled: true, message: null });
    expect((await t.db.hostStatus.findUniqueOrThrow({ where: { host: hostId() } })).checkedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(await vmActionsStatus(t.db, webOnly)).toEqual({ enabled: true, message: null });
  });
});
