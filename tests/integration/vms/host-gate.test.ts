// VM actions on a host that cannot run VMs are refused with the readiness
// message (what is missing, how to fix it), before anything changes; the same
// actions pass once the host answers. The stand-in vagrant answers the
// readiness probes like the real one; libvirt is the real virsh, pointed at a
// socket nobody listens on for "not ready" and at its test driver for "ready".
import { makeUser, noRequest, tinyBox } from "./harness";
import { execaSync } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { env, parseEnv } from "~/server/env";
import { vmActionsStatus } from "~/server/vms/host-gate";
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
    const e = notReady();
    const attempt = createVm(t.db, alice, { name: "gated", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e);
    await expect(attempt).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await expect(attempt).rejects.toThrow(
      /^VM actions are disabled: libvirt: failed to connect to the hypervisor.*Fix: start libvirtd .*scripts\/host-setup\.sh/,
    );
    expect(await t.db.vm.count({ where: { ownerId: alice.id } })).toBe(0);
    expect(await vmActionsStatus(e)).toMatchObject({ enabled: false, message: expect.stringMatching(/^VM actions are disabled: libvirt/) });
  });

  it("refuses stop on a running VM without touching its state, and allows it once the host answers", async () => {
    const alice = await makeUser(t.db, "gate-bob@example.com");
    const admin = await makeUser(t.db, "gate-admin@example.com", "ADMIN");
    const boxId = (await tinyBox(t.db)).id;
    const runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
    try {
      const { vm } = await createVm(t.db, alice, { name: "gated-run", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");

      await expect(requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest, notReady())).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
      await expect(stopAllRunningVms(t.db, admin, "drill", noRequest, notReady())).rejects.toThrow(/^VM actions are disabled/);
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
      expect(await t.db.vmJob.count({ where: { vmId: vm.id } })).toBe(1);

      expect(await vmActionsStatus(env())).toEqual({ enabled: true, message: null });
      await requestVmOperation(t.db, alice, vm.id, "stop", {}, noRequest);
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("STOPPED");
    } finally {
      await runner.stop();
    }
  });
});
