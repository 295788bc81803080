// Every VM procedure through the real tRPC router: refused for another user and
// for a signed-out caller; allowed for the owner and for an admin.
import { makeUser, testDbProvider, tinyBox } from "./harness";
import { TRPCError } from "@trpc/server";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { createCaller } from "~/server/api/root";
import type { Actor } from "~/server/permissions";
import { VmJobRunner } from "~/server/vms/runner";

let t: TestDb;
let owner: Actor;
let intruder: Actor;
let admin: Actor;
let vmId: string;
let jobId: string;
let boxId: string;

const callerFor = (actor: Actor | null) => createCaller({ db: t.db, actor, sourceIp: "203.0.113.9", userAgent: "vitest" });

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  owner = await makeUser(t.db, "owner@example.com");
  intruder = await makeUser(t.db, "intruder@example.com");
  admin = await makeUser(t.db, "root@example.com", "ADMIN");
  const runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
  const created = await callerFor(owner).vms.create({ name: "mine", boxId, cpus: 1, ramMb: 512, diskGb: 10 });
  vmId = created.id;
  jobId = created.jobId;
  await runner.idle();
  await runner.stop();
});
afterAll(async () => t.close());

// Every procedure that names a VM or a job, with valid input.
const vmProcedures = (c: ReturnType<typeof callerFor>) => ({
  get: () => c.vms.get({ id: vmId }),
  start: () => c.vms.start({ id: vmId }),
  stop: () => c.vms.stop({ id: vmId }),
  restart: () => c.vms.restart({ id: vmId }),
  destroy: () => c.vms.destroy({ id: vmId, confirmName: "mine" }),
  jobs: () => c.vms.jobs({ id: vmId }),
  job: () => c.vms.job({ jobId }),
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    return err instanceof TRPCError ? err.code : String(err);
  }
}

describe("another user", () => {
  it.each(Object.keys(vmProcedures(null as never)))("is refused %s", async (name) => {
    const proc = vmProcedures(callerFor(intruder))[name as keyof ReturnType<typeof vmProcedures>];
    expect(await codeOf(proc())).toBe("NOT_FOUND");
  });
  it("does not see the VM in the list and left nothing changed", async () => {
    expect(await callerFor(intruder).vms.list()).toEqual([]);
    const vm = await t.db.vm.findUniqueOrThrow({ where: { id: vmId } });
    expect(vm.state).toBe("RUNNING");
    expect(await t.db.vmJob.count({ where: { vmId } })).toBe(1);
  });
});

describe("signed out", () => {
  const everything = (c: ReturnType<typeof callerFor>) => ({
    ...vmProcedures(c),
    list: () => c.vms.list(),
    create: () => c.vms.create({ name: "x", boxId, cpus: 1, ramMb: 512, diskGb: 10 }),
    catalog: () => c.vms.catalog(),
    costEstimate: () => c.vms.costEstimate({ cpus: 1, ramMb: 512, diskGb: 10 }),
    myAccount: () => c.vms.myAccount(),
    actionsStatus: () => c.vms.actionsStatus(),
  });
  it.each(Object.keys(everything(null as never)))("is refused %s", async (name) => {
    const proc = everything(callerFor(null))[name as keyof ReturnType<typeof everything>];
    expect(await codeOf(proc())).toBe("UNAUTHORIZED");
  });
});

describe("owner and admin", () => {
  it("the owner reads details, jobs and output", async () => {
    const c = callerFor(owner);
    const vm = await c.vms.get({ id: vmId });
    expect(vm).toMatchObject({ name: "mine", state: "RUNNING", owner: { email: "owner@example.com" }, box: { name: "local/tiny" } });
    // Through the VM's forwarded port on the public host (no AUTH_URL or PUBLIC_SSH_HOST here: this machine's name); no key path.
    expect(vm.sshCommand).toBe(`ssh -p ${(await t.db.vm.findUniqueOrThrow({ where: { id: vmId } })).hostSshPort} vagrant@${hostname()}`);
    expect(vm.sshForwarded).toBe(true);
    expect(vm.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(vm.actions).toEqual(["stop", "restart", "destroy"]);
    const job = await c.vms.job({ jobId });
    expect(job.output).toContain("Machine booted and ready!");
    const tail = await c.vms.job({ jobId, fromOffset: job.length });
    expect(tail.output).toBe("");
    expect((await c.vms.list()).map((v) => v.name)).toEqual(["mine"]);
    expect(await c.vms.actionsStatus()).toEqual({ enabled: true, message: null });
  });

  it("rejects hostile input at the router", async () => {
    const c = callerFor(owner);
    for (const name of ["../etc", "a;rm -rf /", "#{`id`}", "A", "x\ny"])
      expect(await codeOf(c.vms.create({ name, boxId, cpus: 1, ramMb: 512, diskGb: 10 }))).toBe("BAD_REQUEST");
    expect(await codeOf(c.vms.create({ name: "ok", boxId, cpus: 99, ramMb: 512, diskGb: 10 }))).toBe("BAD_REQUEST");
    expect(await codeOf(c.vms.destroy({ id: vmId, confirmName: "not-it" }))).toBe("BAD_REQUEST");
  });

  it("an admin sees every VM and may act on it; the event names the admin", async () => {
    const c = callerFor(admin);
    expect((await c.vms.list()).map((v) => v.ownerEmail)).toContain("owner@example.com");
    const job = await c.vms.stop({ id: vmId });
    expect(job.requestedByEmail).toBe("root@example.com");
    const ev = await t.db.event.findFirstOrThrow({ where: { action: "vm.stop.requested", targetVmId: vmId } });
    expect(ev).toMatchObject({ actorId: admin.id, targetUserId: owner.id, sourceIp: "203.0.113.9", userAgent: "vitest" });
    expect(await codeOf(c.vms.stop({ id: vmId }))).toBe("CONFLICT");
  });

  it("estimates cost and reports quota and balance", async () => {
    const c = callerFor(owner);
    const est = await c.vms.costEstimate({ cpus: 2, ramMb: 2048, diskGb: 20 });
    expect(est.perHour).toBeCloseTo(2 * 1 + 2 * 0.5 + 20 * 0.01, 6);
    const account = await c.vms.myAccount();
    expect(account.usage.vms).toBe(1);
    expect(account.quota.maxVms).toBe(5);
    expect(account.balance).toBeGreaterThan(0);
    const catalog = await c.vms.catalog();
    expect(catalog.boxes.map((b) => b.name)).toContain("local/tiny");
  });
});
