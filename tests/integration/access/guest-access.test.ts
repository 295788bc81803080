// Guest access after every boot, through the job runner, the stand-in vagrant
// and its stand-in guest (an SSH server that authenticates against the guest's
// real authorized_keys file and runs the app's commands with /bin/sh).
import { controlFakeVagrant, noRequest } from "../vms/harness";
import { guestRunnerWorld } from "./guest-runner";
import { addUserKey, guestAuthorizedKeys, guestDir, guestExecs, guestTarget, modeOf, sshRun, userKeyPair } from "./guest-world";
import { execa } from "execa";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { insecureKeyPath, vmKeyPaths } from "~/server/access/vm-key";
import { vmFolder } from "~/server/folders";
import type { Actor } from "~/server/permissions";
import { requestVmOperation } from "~/server/vms/lifecycle";

const world = guestRunnerWorld("acc");
let alice: Actor;
const vmOf = (id: string) => world.db.vm.findUniqueOrThrow({ where: { id } });
const lastJob = (vmId: string) => world.db.vmJob.findFirstOrThrow({ where: { vmId }, orderBy: { createdAt: "desc" } });
const eventsOf = (vmId: string) => world.db.event.findMany({ where: { targetVmId: vmId }, orderBy: { createdAt: "asc" } });
const vagrantfileOf = (vmId: string) => readFileSync(path.join(vmFolder(vmId), "Vagrantfile"), "utf8");
const launched = (actor: Actor) => world.launch(actor);

beforeEach(async () => {
  controlFakeVagrant({});
  alice = await world.user("alice");
});
afterEach(() => controlFakeVagrant({}));

describe("a new VM", () => {
  it("gets its own key and its owner's keys, and nothing else opens it", async () => {
    const laptop = await addUserKey(world.db, alice.id, "laptop");
    const phone = await addUserKey(world.db, alice.id, 'phone: "termius"\nsecond line', userKeyPair("ecdsa"));
    const vm = await launched(alice);
    expect(vm.state).toBe("RUNNING");
    expect((await lastJob(vm.id)).state).toBe("SUCCEEDED");
    expect((await lastJob(vm.id)).output).toContain("SSH access set up: the VM's own key and 2 key(s) of its owner; password login off.");
    expect(vm.keysSyncedAt).not.toBeNull();

    // The file, as the guest's sshd reads it: header, the VM's own key, then the owner's keys with their labels.
    const own = readFileSync(vmKeyPaths(vm.id).publicKey, "utf8").trim().split(" ").slice(0, 2).join(" ");
    expect(readFileSync(guestAuthorizedKeys(vm.id), "utf8").split("\n")).toEqual([
      "# Written by Twarga Cloud when this VM starts and when its owner's SSH keys change; edits here are replaced.",
      "# Add or remove keys on the app's SSH keys page.",
      `${own} twarga-vm-${vm.id} (the app's own key for this VM)`,
      `${laptop.publicKey} laptop`,
      `${phone.publicKey} phone: "termius" second line`,
      "",
    ]);
    expect(modeOf(guestAuthorizedKeys(vm.id))).toBe(0o600);
    expect(modeOf(path.dirname(guestAuthorizedKeys(vm.id)))).toBe(0o700);

    const target = await guestTarget(world.db, vm.id);
    expect(await sshRun(target, { privateKey: laptop.privateKey }, "echo $((6*7))")).toEqual({ code: 0, stdout: "42\n" });
    expect((await sshRun(target, { privateKey: phone.privateKey }, "whoami")).code).toBe(0);
    expect((await sshRun(target, { privateKey: vmKeyPaths(vm.id).privateKey }, "true")).code).toBe(0);
    // Vagrant's published key no longer opens it, nor a password, nor anyone else's key.
    await expect(sshRun(target, { privateKey: insecureKeyPath() }, "true")).rejects.toThrow(/authentication methods failed/);
    await expect(sshRun(target, { password: "vagrant" }, "true")).rejects.toThrow(/authentication methods failed/);
    await expect(sshRun(target, { privateKey: userKeyPair().privateKey }, "true")).rejects.toThrow(/authentication methods failed/);
    // A new VM was never on the shared key: no "moved" event.
    expect((await eventsOf(vm.id)).map((e) => e.action)).not.toContain("vm.keys.moved");
  });

  it("turns password login off on a box that allows it", async () => {
    // The same box, booted by the stand-in vagrant without the app: it takes the password, as many public boxes do.
    const bare = mkdtempSync(path.join(tmpdir(), "twarga-bare-box-"));
    writeFileSync(path.join(bare, "Vagrantfile"), "Vagrant.configure(\"2\") do |config|\n  config.vm.box = 'local/tiny'\nend\n");
    await execa(process.env.VAGRANT_BIN!, ["up", "--provider=libvirt", "--machine-readable"], { cwd: bare, env: { VAGRANT_HOME: process.env.VAGRANT_HOME! } });
    const info = JSON.parse(readFileSync(path.join(bare, ".vagrant/guest/listening.json"), "utf8")) as { host: string; port: number };
    expect((await sshRun(info, { password: "vagrant" }, "true")).code).toBe(0);
    await execa(process.env.VAGRANT_BIN!, ["destroy", "-f"], { cwd: bare, env: { VAGRANT_HOME: process.env.VAGRANT_HOME! } });

    const vm = await launched(alice);
    expect((await lastJob(vm.id)).message).toBe("create finished; the VM is running.");
    const config = readFileSync(path.join(guestDir(vm.id), "root/etc/ssh/sshd_config"), "utf8");
    // First in the file, before the Include of sshd_config.d: sshd keeps the first value it reads.
    const head = "# Twarga Cloud: SSH logins with keys only (no passwords)\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\n";
    expect(config.startsWith(`${head}Include /etc/ssh/sshd_config.d/*.conf`)).toBe(true);
    await expect(sshRun(await guestTarget(world.db, vm.id), { password: "vagrant" }, "true")).rejects.toThrow(/authentication methods failed/);
    // Written once: a restart finds the line and leaves the file alone.
    await requestVmOperation(world.db, alice, vm.id, "restart", {}, noRequest);
    await world.runner.idle();
    expect(readFileSync(path.join(guestDir(vm.id), "root/etc/ssh/sshd_config"), "utf8")).toBe(config);
  });

  it("lets Vagrant in with its own key only, once moved", async () => {
    const vm = await launched(alice);
    const own = vmKeyPaths(vm.id).privateKey;
    // The first boot offered both; the file was written before the guest was moved.
    expect(vagrantfileOf(vm.id)).toContain(`config.ssh.private_key_path = ['${own}', '${insecureKeyPath()}']`);
    await requestVmOperation(world.db, alice, vm.id, "restart", {}, noRequest);
    await world.runner.idle();
    expect((await lastJob(vm.id)).state).toBe("SUCCEEDED");
    expect(vagrantfileOf(vm.id)).toContain(`config.ssh.private_key_path = ['${own}']\n`);
    // The VM's key is root's only.
    expect(modeOf(own)).toBe(0o600);
    expect(modeOf(path.dirname(own))).toBe(0o700);
  });
});

describe("a VM from before per-VM keys", () => {
  it("is moved to its own key on its next start, with an event, and stays on the shared network", async () => {
    const vm = await launched(alice);
    await requestVmOperation(world.db, alice, vm.id, "stop", {}, noRequest);
    await world.runner.idle();
    // As such a VM is: the box's insecure key in the guest, never synced, on vagrant-libvirt's shared network.
    const insecurePub = readFileSync(`${insecureKeyPath()}.pub`, "utf8").trim();
    writeFileSync(guestAuthorizedKeys(vm.id), `${insecurePub} vagrant insecure public key\n`, { mode: 0o600 });
    await world.db.vm.update({ where: { id: vm.id }, data: { keysSyncedAt: null, networkName: null } });

    await requestVmOperation(world.db, alice, vm.id, "start", {}, noRequest);
    await world.runner.idle();
    const after = await vmOf(vm.id);
    expect(after.state).toBe("RUNNING");
    expect((await lastJob(vm.id)).state).toBe("SUCCEEDED");
    expect(after.keysSyncedAt).not.toBeNull();
    expect(after.networkName).toBeNull();
    expect(vagrantfileOf(vm.id)).not.toContain("management_network");
    const moved = (await eventsOf(vm.id)).filter((e) => e.action === "vm.keys.moved");
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ severity: "INFO", actorId: alice.id, targetUserId: alice.id });
    expect(moved[0]!.message).toBe(`${vm.name} was moved to its own SSH key: Vagrant's shared insecure key no longer opens it.`);
    await expect(sshRun(await guestTarget(world.db, vm.id), { privateKey: insecureKeyPath() }, "true")).rejects.toThrow(/authentication methods failed/);

    // Later starts are not moves.
    await requestVmOperation(world.db, alice, vm.id, "restart", {}, noRequest);
    await world.runner.idle();
    expect((await eventsOf(vm.id)).filter((e) => e.action.startsWith("vm.keys."))).toHaveLength(1);
  });
});

describe("a boot the app did not see end", () => {
  it("is set up when the app starts again", async () => {
    const vm = await launched(alice);
    await requestVmOperation(world.db, alice, vm.id, "stop", {}, noRequest);
    await world.runner.idle();
    const insecurePub = readFileSync(`${insecureKeyPath()}.pub`, "utf8").trim();
    writeFileSync(guestAuthorizedKeys(vm.id), `${insecurePub} vagrant insecure public key\n`, { mode: 0o600 });
    await world.db.vm.update({ where: { id: vm.id }, data: { keysSyncedAt: null, state: "STARTING" } });
    // The app claimed a start, ran vagrant... and died; vagrant finished the boot on its own.
    await world.db.vmJob.create({
      data: { vmId: vm.id, kind: "START", state: "RUNNING", startedAt: new Date(), requestedById: alice.id, requestedByEmail: alice.email },
    });
    await execa(process.env.VAGRANT_BIN!, ["up", "--provider=libvirt", "--machine-readable"], {
      cwd: vmFolder(vm.id),
      env: { VAGRANT_HOME: process.env.VAGRANT_HOME! },
    });
    const booted = JSON.parse(readFileSync(path.join(guestDir(vm.id), "listening.json"), "utf8")) as { host: string; port: number };
    expect(await sshRun(booted, { privateKey: insecureKeyPath() }, "true")).toMatchObject({ code: 0 });

    const { recoverInterruptedJobs } = await import("~/server/vms/reconcile");
    expect(await recoverInterruptedJobs(world.db)).toBe(1);
    expect((await vmOf(vm.id)).state).toBe("RUNNING");
    expect((await vmOf(vm.id)).keysSyncedAt).not.toBeNull();
    expect((await eventsOf(vm.id)).map((e) => e.action)).toContain("vm.keys.moved");
    await expect(sshRun(await guestTarget(world.db, vm.id), { privateKey: insecureKeyPath() }, "true")).rejects.toThrow(/authentication methods failed/);
  });
});

describe("when the guest cannot be set up", () => {
  it("fails the job with the reason, leaves the VM RUNNING, and the next start retries", async () => {
    const vm = await launched(alice);
    const synced = (await vmOf(vm.id)).keysSyncedAt;
    // A guest without an sshd_config: password login cannot be turned off.
    const config = path.join(guestDir(vm.id), "root/etc/ssh/sshd_config");
    renameSync(config, `${config}.away`);
    await requestVmOperation(world.db, alice, vm.id, "restart", {}, noRequest);
    await world.runner.idle();
    const job = await lastJob(vm.id);
    expect(job.state).toBe("FAILED");
    expect(job.message).toMatch(
      /^The VM booted, but its SSH access could not be set up: could not turn password login off: twarga: \S+sshd_config does not exist\. Starting it again retries\. The VM is running\.$/,
    );
    expect((await vmOf(vm.id)).state).toBe("RUNNING");
    expect((await vmOf(vm.id)).keysSyncedAt).toEqual(synced);
    const ev = (await eventsOf(vm.id)).filter((e) => e.action === "vm.restart").at(-1)!;
    expect(ev.severity).toBe("WARNING");
    expect(ev.message).toContain("restart failed");
    expect(ev.message).toContain("SSH access could not be set up");

    renameSync(`${config}.away`, config);
    await requestVmOperation(world.db, alice, vm.id, "restart", {}, noRequest);
    await world.runner.idle();
    expect((await lastJob(vm.id)).state).toBe("SUCCEEDED");
    expect((await vmOf(vm.id)).keysSyncedAt!.getTime()).toBeGreaterThan(synced!.getTime());
  });

  it("reports a guest whose SSH port does not answer", async () => {
    const vm = await launched(alice);
    await world.db.vm.update({ where: { id: vm.id }, data: { keysSyncedAt: null } });
    const { installGuestAccess } = await import("~/server/access/guest-access");
    // A port nobody listens on (the guest's own, just after it stopped listening).
    await execa(process.env.VAGRANT_BIN!, ["halt", "--force"], { cwd: vmFolder(vm.id), env: { VAGRANT_HOME: process.env.VAGRANT_HOME! } });
    await expect(installGuestAccess(world.db, vm.id, {}, undefined)).rejects.toThrow(
      /^could not log in to the guest at 127\.\d+\.\d+\.\d+:\d+ with the VM's own key or Vagrant's key \(.*ECONNREFUSED/,
    );
    expect((await vmOf(vm.id)).keysSyncedAt).toBeNull();
    expect(guestExecs(vm.id).filter((x) => x.label === "sh")).toHaveLength(1); // only the first boot's
  });
});
