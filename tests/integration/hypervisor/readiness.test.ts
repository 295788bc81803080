// The repeating host readiness check starts no process on a host that stays
// ready and unchanged: each tool's version is asked once per binary (path,
// inode, size, mtime), the plugin list once per Vagrant and plugin manifest,
// and libvirt's liveness is a connection to its socket. The tools here are
// real processes that log each start: the stand-in vagrant behind a wrapper,
// QEMU's real binary behind a wrapper when installed, and a stand-in virsh that
// prints `virsh version` in the real format (libvirt itself is a real unix
// socket served by this test). The answer is stored in the database for every
// process (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, postgresAvailable } from "../../support/db";
import { parseEnv } from "~/server/env";
import { checkHostReadiness, hostReadiness, recordHostReadiness, type HostReadiness } from "~/server/hypervisor/readiness";

const FAKE_VAGRANT = path.resolve(import.meta.dirname, "../../support/fake-vagrant/vagrant");
const dir = mkdtempSync(path.join(tmpdir(), "twarga-readiness-"));
const bin = path.join(dir, "bin");
const log = path.join(dir, "starts.log");
const socketPath = path.join(dir, "libvirt-sock");
const vagrantHome = path.join(dir, "vagrant.d");
mkdirSync(bin);
mkdirSync(vagrantHome);
writeFileSync(log, "");

const realQemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].find(existsSync);
const script = (name: string, body: string) => {
  writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\n${body}\n`);
  chmodSync(path.join(bin, name), 0o755);
};
script("vagrant", `exec node "${FAKE_VAGRANT}" "$@"`);
script("qemu-system-x86_64", realQemu ? `exec "${realQemu}" "$@"` : `echo "QEMU emulator version 7.2.0 (stand-in)"`);
script("virsh", `printf 'Compiled against library: libvirt 9.0.0\\nUsing library: libvirt 9.0.0\\nUsing API: QEMU 9.0.0\\nRunning hypervisor: QEMU 7.2.0\\n'`);

const settings = {
  ...process.env,
  VAGRANT_BIN: path.join(bin, "vagrant"),
  VIRSH_BIN: path.join(bin, "virsh"),
  LIBVIRT_URI: `qemu+unix:///system?socket=${socketPath}`,
  VAGRANT_HOME: vagrantHome,
  VM_DRIVER: "qemu",
};
const e = parseEnv(settings);

let logged = 0;
/** The tool starts since the last call, sorted. */
function newStarts(): string[] {
  const lines = readFileSync(log, "utf8").split("\n").filter(Boolean);
  const fresh = lines.slice(logged);
  logged = lines.length;
  return fresh.sort();
}

let libvirtd: Server | null = null;
async function startLibvirtd() {
  libvirtd = createServer((conn) => conn.destroy());
  libvirtd.listen(socketPath);
  await once(libvirtd, "listening");
}
async function stopLibvirtd() {
  await new Promise((resolve) => libvirtd!.close(resolve)); // Node removes the socket file
  libvirtd = null;
}

const savedPath = process.env.PATH;
beforeAll(async () => {
  // QEMU is looked up on PATH, like the app does: put its wrapper first.
  process.env.PATH = `${bin}:${savedPath}`;
  await startLibvirtd();
});
afterAll(async () => {
  process.env.PATH = savedPath;
  if (libvirtd) await stopLibvirtd();
});

const libvirtCheck = (r: HostReadiness) => r.checks.find((c) => c.component === "libvirt")!;

describe("the repeating host readiness check", () => {
  it("asks each tool once per binary, and again only for what changed", async () => {
    const first = await checkHostReadiness(e);
    expect(first.checks.filter((c) => !c.ok)).toEqual([]);
    expect(first.ready).toBe(true);
    expect(newStarts()).toEqual(["qemu-system-x86_64 --version", "vagrant --version", "vagrant plugin list", "virsh --connect " + e.LIBVIRT_URI + " version"]);

    for (let i = 0; i < 3; i++) {
      const again = await checkHostReadiness(e);
      expect(again.ready).toBe(true);
      expect(again.message).toBe(first.message);
    }
    expect(newStarts()).toEqual([]);

    // An upgraded Vagrant (new mtime): its version and its plugins are asked again, nothing else.
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(bin, "vagrant"), later, later);
    expect((await checkHostReadiness(e)).ready).toBe(true);
    expect(newStarts()).toEqual(["vagrant --version", "vagrant plugin list"]);

    // A plugin installed into VAGRANT_HOME: only the plugin list.
    writeFileSync(path.join(vagrantHome, "plugins.json"), '{"version":"1","installed":{}}');
    expect((await checkHostReadiness(e)).ready).toBe(true);
    expect(newStarts()).toEqual(["vagrant plugin list"]);

    // The admin's "check again" asks everything.
    expect((await checkHostReadiness(e, { full: true })).ready).toBe(true);
    expect(newStarts()).toHaveLength(4);
  });

  it("sees libvirt go away and come back through its socket, asking virsh only after the daemon restarted", async () => {
    await checkHostReadiness(e);
    newStarts();

    await stopLibvirtd();
    const down = await checkHostReadiness(e);
    expect(down.ready).toBe(false);
    expect(libvirtCheck(down)).toMatchObject({ ok: false, version: null });
    expect(libvirtCheck(down).detail).toBe(`failed to connect to the hypervisor: cannot connect to socket ${socketPath}: No such file or directory`);
    expect(down.message).toMatch(/^VM actions are disabled: libvirt: failed to connect to the hypervisor.*Fix: start libvirtd /);
    expect(newStarts()).toEqual([]);

    // A daemon killed outright leaves its socket file behind, with nobody listening.
    const child = spawn(process.execPath, [
      "-e",
      `require("node:net").createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, "SIGKILL"))`,
    ]);
    await once(child, "exit");
    const refused = await checkHostReadiness(e);
    expect(libvirtCheck(refused).detail).toBe(`failed to connect to the hypervisor: cannot connect to socket ${socketPath}: Connection refused`);
    expect(newStarts()).toEqual([]);

    unlinkSync(socketPath);
    await startLibvirtd();
    const back = await checkHostReadiness(e);
    expect(back.ready).toBe(true);
    expect(libvirtCheck(back).version).toBe("9.0.0 (hypervisor QEMU 7.2.0)");
    expect(newStarts()).toEqual(["virsh --connect " + e.LIBVIRT_URI + " version"]);
  });
});

const providers = ["sqlite", ...(postgresAvailable() ? ["postgresql" as const] : [])] as const;
describe.each(providers)("the stored readiness (%s)", (provider) => {
  let t: Awaited<ReturnType<typeof createTestDb>>;
  beforeAll(async () => {
    t = await createTestDb({ provider });
  });
  afterAll(async () => t.close());

  it("is what every process reads, checks and driver included", async () => {
    const checked = await recordHostReadiness(t.db, e);
    const webOnly = parseEnv({ ...settings, BACKGROUND_SERVICES: "false" });
    const read = await hostReadiness(t.db, {}, webOnly);
    expect(read).toEqual({ ...checked, current: true });
    expect(read.driver).toEqual({ driver: "qemu", source: "setting", reason: "set by VM_DRIVER=qemu" });
    expect(read.checks.map((c) => c.component)).toEqual(["qemu", "libvirt", "vagrant", "vagrant-libvirt"]);
  });

  it("says unknown in a web-only replica when no host has ever checked", async () => {
    await t.db.hostStatus.deleteMany();
    const webOnly = parseEnv({ ...process.env, BACKGROUND_SERVICES: "false" });
    const r = await hostReadiness(t.db, { refresh: true }, webOnly);
    expect(r).toMatchObject({ ready: false, current: false, checkedBy: null, checks: [] });
    expect(r.message).toMatch(/^VM actions are disabled: host readiness unknown/);
    expect(await t.db.hostStatus.count()).toBe(0);
  });
});
