// Forwarded SSH ports: unique across the database under concurrent launches
// (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set), kept for the VM's
// life, back in the pool when it is destroyed, refused cleanly when the range
// is used up, and none at all with VM_SSH_PORT_RANGE=off.
import { makeUser, noRequest, tinyBox } from "../vms/harness";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDb, postgresAvailable, type TestDb } from "../../support/db";
import { assignSshPort, publicSshHost, sshPortUsage } from "~/server/access/ssh-ports";
import { env, parseEnv } from "~/server/env";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { sshCommand } from "~/server/vms/queries";
import { settleVm } from "~/server/vms/reconcile";
import { VmJobRunner } from "~/server/vms/runner";

const providers = ["sqlite", ...(postgresAvailable() ? (["postgresql"] as const) : [])] as const;
const opened: TestDb[] = [];
afterAll(async () => Promise.all(opened.map((t) => t.close())));
const withEnv = (overrides: Record<string, string>) => parseEnv({ ...process.env, ...overrides });

async function setUp(provider: "sqlite" | "postgresql") {
  const t = await createTestDb({ provider });
  opened.push(t);
  const boxId = (await tinyBox(t.db)).id;
  return { t, boxId };
}

describe.each(providers)("on %s", (provider) => {
  it("gives ten launches at once by several users ten different ports, the lowest ones, and reuses a destroyed VM's", async () => {
    const { t, boxId } = await setUp(provider);
    const users = await Promise.all(["a", "b", "c", "d", "e"].map((u) => makeUser(t.db, `${u}-${provider}@example.com`)));
    const launches = Array.from({ length: 10 }, (_, i) => createVm(t.db, users[i % 5]!, { name: `p-${i}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest));
    const made = await Promise.all(launches);
    const ports = (await t.db.vm.findMany({ where: { id: { in: made.map((m) => m.vm.id) } }, select: { hostSshPort: true } })).map((v) => v.hostSshPort);
    const { first } = env().VM_SSH_PORT_RANGE!;
    expect([...ports].sort()).toEqual(Array.from({ length: 10 }, (_, i) => first + i));
    expect(await sshPortUsage(t.db)).toMatchObject({ range: `${first}-${env().VM_SSH_PORT_RANGE!.last}`, used: 10 });

    // Destroyed: the port goes back to the pool and the next launch takes it (the lowest free).
    const victim = await t.db.vm.findFirstOrThrow({ where: { hostSshPort: first + 3 } });
    await settleVm(t.db, victim.id, { state: "DESTROYED" });
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: victim.id } })).hostSshPort).toBeNull();
    const again = await createVm(t.db, users[0]!, { name: "again", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: again.vm.id } })).hostSshPort).toBe(first + 3);
  });

  it("never gives one VM two ports, and one port to one VM only, when assignments race", async () => {
    const { t, boxId } = await setUp(provider);
    const user = await makeUser(t.db, `racer-${provider}@example.com`);
    const row = (i: number) => ({
      name: `r-${i}`,
      activeName: `r-${i}`,
      ownerId: user.id,
      boxId,
      cpus: 1,
      ramMb: 512,
      diskGb: 10,
      driver: "qemu",
      state: "STOPPED" as const,
    });
    const vms = await Promise.all(Array.from({ length: 6 }, (_, i) => t.db.vm.create({ data: row(i) })));
    // Three assignments per VM, all at once.
    const results = await Promise.all(vms.flatMap((vm) => [0, 1, 2].map(async () => [vm.id, await assignSshPort(t.db, vm.id)] as const)));
    for (const vm of vms) expect(new Set(results.filter(([id]) => id === vm.id).map(([, p]) => p)).size).toBe(1);
    const held = (await t.db.vm.findMany({ where: { id: { in: vms.map((v) => v.id) } } })).map((v) => v.hostSshPort);
    expect(new Set(held).size).toBe(6);
  });
});

describe("limits and settings", () => {
  it("refuses a launch when the range is used up, naming the setting, and leaves nothing behind", async () => {
    const { t, boxId } = await setUp("sqlite");
    const e = withEnv({ VM_SSH_PORT_RANGE: "23000-23001" });
    const user = await makeUser(t.db, "full@example.com");
    await createVm(t.db, user, { name: "one", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e);
    await createVm(t.db, user, { name: "two", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e);
    await expect(createVm(t.db, user, { name: "three", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e)).rejects.toMatchObject({
      code: "CONFLICT",
      message:
        "Every forwarded SSH port of this host (23000-23001) belongs to a VM. Destroy a VM you no longer need, or ask an admin to widen VM_SSH_PORT_RANGE.",
    });
    expect(await t.db.vm.count({ where: { ownerId: user.id } })).toBe(2);
    expect(await sshPortUsage(t.db, e)).toEqual({ range: "23000-23001", size: 2, used: 2, free: 0 });
  });

  it("assigns nothing with forwarding off, and the page's command names the VM's own address", async () => {
    const { t, boxId } = await setUp("sqlite");
    const e = withEnv({ VM_SSH_PORT_RANGE: "off" });
    const user = await makeUser(t.db, "off@example.com");
    const { vm } = await createVm(t.db, user, { name: "direct", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e);
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).hostSshPort).toBeNull();
    expect(await sshPortUsage(t.db, e)).toEqual({ range: null, size: 0, used: 0, free: 0 });
    expect(sshCommand({ ipAddress: "10.231.0.17", sshUser: "vagrant", sshPort: 22, hostSshPort: null }, e)).toEqual({
      command: "ssh vagrant@10.231.0.17",
      forwarded: false,
    });
    // Even a port left from before forwarding was turned off is not offered.
    expect(sshCommand({ ipAddress: "10.231.0.17", sshUser: "dev", sshPort: 22, hostSshPort: 22014 }, e)).toEqual({
      command: "ssh dev@10.231.0.17",
      forwarded: false,
    });
  });

  it("gives a VM made before forwarding a port on its next start, and keeps it through stop and start", async () => {
    const { t, boxId } = await setUp("sqlite");
    const user = await makeUser(t.db, "old@example.com");
    const runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
    try {
      const { vm } = await createVm(t.db, user, { name: "old", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
      await runner.idle();
      await requestVmOperation(t.db, user, vm.id, "stop", {}, noRequest);
      await runner.idle();
      await t.db.vm.update({ where: { id: vm.id }, data: { hostSshPort: null } });
      await requestVmOperation(t.db, user, vm.id, "start", {}, noRequest);
      await runner.idle();
      const port = (await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).hostSshPort;
      expect(port).toBe(env().VM_SSH_PORT_RANGE!.first);
      await requestVmOperation(t.db, user, vm.id, "stop", {}, noRequest);
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).hostSshPort).toBe(port);
      await requestVmOperation(t.db, user, vm.id, "start", {}, noRequest);
      await runner.idle();
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).hostSshPort).toBe(port);
    } finally {
      await runner.stop();
    }
  });

  it("names the public host from PUBLIC_SSH_HOST, else AUTH_URL's host, else the machine", () => {
    expect(publicSshHost(withEnv({ PUBLIC_SSH_HOST: "ssh.example.com", AUTH_URL: "https://cloud.example.com" }))).toBe("ssh.example.com");
    expect(publicSshHost(withEnv({ PUBLIC_SSH_HOST: "", AUTH_URL: "https://cloud.example.com:8443/app" }))).toBe("cloud.example.com");
    expect(publicSshHost(withEnv({ PUBLIC_SSH_HOST: "", AUTH_URL: "http://[2001:db8::1]:3000" }))).toBe("2001:db8::1");
    expect(publicSshHost(withEnv({ PUBLIC_SSH_HOST: "", AUTH_URL: "" }))).toMatch(/^\S+$/);
    const vm = { ipAddress: "10.231.0.17", sshUser: "dev", sshPort: 22, hostSshPort: 22014 };
    expect(sshCommand(vm, withEnv({ PUBLIC_SSH_HOST: "cloud.example.com" }))).toEqual({ command: "ssh -p 22014 dev@cloud.example.com", forwarded: true });
    expect(() => withEnv({ PUBLIC_SSH_HOST: "host; rm -rf /" })).toThrow(/PUBLIC_SSH_HOST/);
    expect(() => withEnv({ VM_SSH_PORT_RANGE: "22999-22000" })).toThrow(/VM_SSH_PORT_RANGE: must be "off" or a port range/);
  });
});
