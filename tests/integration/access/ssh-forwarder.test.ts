// SSH forwarding: a listener per running VM that relays to the guest's SSH
// port, following the database. First with a TCP echo server as the guest,
// then end to end: a VM launched through the job runner and the stand-in
// vagrant, reached through its forwarded port with its owner's key.
import { makeUser, noRequest, testDbProvider, tinyBox } from "../vms/harness";
import { addUserKey, sshRun } from "./guest-world";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { SshForwarder, wakeSshForwarder } from "~/server/access/ssh-forwarder";
import { parseEnv } from "~/server/env";
import type { Actor } from "~/server/permissions";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { VmJobRunner } from "~/server/vms/runner";

let t: TestDb;
let owner: Actor;
let boxId: string;
let n = 0;
const forwarders: SshForwarder[] = [];
const servers: net.Server[] = [];

/** A forwarder bound to loopback that only moves when woken (no timer in the way of the assertions). */
const forwarder = (env = parseEnv(process.env)) => {
  const f = new SshForwarder(t.db, { bindHost: "127.0.0.1", reconcileMs: 3_600_000, env }).start();
  forwarders.push(f);
  return f;
};

async function listen(server: net.Server, port = 0): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The "guest": echoes what it is sent. */
const echoServer = () => net.createServer((sock) => sock.pipe(sock));

async function runningRow(guestPort: number, hostSshPort: number) {
  const vm = await t.db.vm.create({
    data: { name: `fw-${++n}`, activeName: `fw-${n}`, ownerId: owner.id, boxId, cpus: 1, ramMb: 512, diskGb: 10, driver: "qemu", state: "RUNNING" },
  });
  return t.db.vm.update({ where: { id: vm.id }, data: { ipAddress: "127.0.0.1", sshPort: guestPort, hostSshPort } });
}

function roundTrip(port: number, text: string): Promise<{ reply: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("error", reject);
    socket.once("data", (d) => resolve({ reply: d.toString(), socket }));
    socket.write(text);
  });
}

const refused = (port: number) =>
  new Promise<string>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve("connected")));
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
  owner = await makeUser(t.db, "fw-owner@example.com");
});
afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(async () => t.close());

describe("forwarding", () => {
  it("relays a connection to the guest and closes the listener, and open connections, when the VM leaves RUNNING", async () => {
    const guestPort = await listen(echoServer());
    const hostPort = await freePort();
    const vm = await runningRow(guestPort, hostPort);
    const f = forwarder();
    await f.settled();
    expect(f.listening()).toEqual(new Map([[hostPort, vm.id]]));
    const { reply, socket } = await roundTrip(hostPort, "SSH-2.0-probe\r\n");
    expect(reply).toBe("SSH-2.0-probe\r\n");

    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "STOPPING" } });
    wakeSshForwarder();
    await f.settled();
    await closed; // the open session ended with the listener
    expect(f.listening().size).toBe(0);
    expect(await refused(hostPort)).toBe("ECONNREFUSED");
  });

  it("comes back from the database alone after a restart, and follows a new address", async () => {
    const guestPort = await listen(echoServer());
    const otherGuestPort = await listen(net.createServer((sock) => sock.resume().end("other guest\n")));
    const hostPort = await freePort();
    const vm = await runningRow(guestPort, hostPort);
    await forwarder().stop(); // the app stops...
    const again = forwarder(); // ...and starts with nothing in memory
    await again.settled();
    expect((await roundTrip(hostPort, "back")).reply).toBe("back");
    await t.db.vm.update({ where: { id: vm.id }, data: { sshPort: otherGuestPort } });
    wakeSshForwarder();
    await again.settled();
    expect((await roundTrip(hostPort, "x")).reply).toBe("other guest\n");
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "STOPPED" } });
  });

  it("records a port it cannot bind once, keeps serving the others, and binds it when it is free", async () => {
    const guestPort = await listen(echoServer());
    const squatter = net.createServer();
    const taken = await listen(squatter);
    const okPort = await freePort();
    const blocked = await runningRow(guestPort, taken);
    const fine = await runningRow(guestPort, okPort);
    const f = forwarder();
    await f.settled();
    wakeSshForwarder();
    await f.settled();
    expect([...f.listening().values()]).toEqual([fine.id]);
    const events = await t.db.event.findMany({ where: { targetVmId: blocked.id, action: "vm.ssh-forward.failed" } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ severity: "WARNING", targetUserId: owner.id });
    expect(events[0]!.message).toContain(`SSH forwarding on host port ${taken} is not available: another program already listens on it.`);

    await new Promise((r) => squatter.close(r));
    wakeSshForwarder();
    await f.settled();
    expect(f.listening().get(taken)).toBe(blocked.id);
    expect((await roundTrip(taken, "now")).reply).toBe("now");
    await t.db.vm.updateMany({ where: { id: { in: [blocked.id, fine.id] } }, data: { state: "STOPPED" } });
  });

  it("listens on nothing with VM_SSH_PORT_RANGE=off", async () => {
    const guestPort = await listen(echoServer());
    const hostPort = await freePort();
    const vm = await runningRow(guestPort, hostPort);
    const f = forwarder(parseEnv({ ...process.env, VM_SSH_PORT_RANGE: "off" }));
    await f.settled();
    expect(f.listening().size).toBe(0);
    expect(await refused(hostPort)).toBe("ECONNREFUSED");
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "STOPPED" } });
  });
});

describe("end to end with the stand-in vagrant", () => {
  it("lets the owner in through the forwarded port with their own key, and nobody with Vagrant's", async () => {
    // A range starting at a port free right now, so the VM's forwarded port (the lowest free) can be bound.
    const first = await freePort();
    const e = parseEnv({ ...process.env, VM_SSH_PORT_RANGE: `${first}-${Math.min(first + 50, 65535)}` });
    const user = await makeUser(t.db, "e2e-fw@example.com");
    const key = await addUserKey(t.db, user.id, "laptop");
    const runner = new VmJobRunner(t.db, { pollMs: 50, env: e }).start();
    const f = forwarder(e);
    try {
      const { vm } = await createVm(t.db, user, { name: "through", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e);
      await runner.idle();
      await f.settled(); // the job's settle woke it
      const row = await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
      expect(row.state).toBe("RUNNING");
      expect(f.listening().get(row.hostSshPort!)).toBe(vm.id);
      const through = { host: "127.0.0.1", port: row.hostSshPort! };
      expect(await sshRun(through, { privateKey: key.privateKey }, "uptime >/dev/null && echo up")).toEqual({ code: 0, stdout: "up\n" });
      await expect(sshRun(through, { privateKey: `${process.env.VAGRANT_HOME}/insecure_private_key` }, "true")).rejects.toThrow(
        /authentication methods failed/,
      );

      await requestVmOperation(t.db, user, vm.id, "destroy", { confirmName: "through" }, noRequest, e);
      await runner.idle();
      await f.settled();
      expect(f.listening().size).toBe(0);
      expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).hostSshPort).toBeNull();
    } finally {
      await runner.stop();
    }
  });
});
