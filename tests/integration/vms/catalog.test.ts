// The honest catalog against the stand-in vagrant's `box list` (it answers like
// the real one, from VAGRANT_HOME/boxes in Vagrant's layout): the launch form
// offers only installed boxes, Admin → Catalog says which entries' boxes are
// missing, the list is re-read only when VAGRANT_HOME/boxes changes, and a
// launch is made once per submit key.
import { makeUser, testDbProvider, tinyBox } from "./harness";
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { createCaller } from "~/server/api/root";
import type { Actor } from "~/server/permissions";
import { catalogWithInstalled, DEFAULT_BOXES, ensureDefaultCatalog, listLaunchableBoxes } from "~/server/vms/catalog";
import { installedBoxes, parseBoxList } from "~/server/vms/installed-boxes";

let t: TestDb;
let user: Actor;
let admin: Actor;
const home = process.env.VAGRANT_HOME!;
const boxesDir = path.join(home, "boxes");
const caller = (actor: Actor) => createCaller({ db: t.db, actor, sourceIp: "203.0.113.9", userAgent: "vitest" });

/** A box as `vagrant box add` leaves it: boxes/<owner>-VAGRANTSLASH-<name>/<version>/libvirt/{box.img,metadata.json,Vagrantfile}. */
function installBox(name: string, imageBytes: number) {
  const dir = path.join(boxesDir, name.replace("/", "-VAGRANTSLASH-"), "0", "libvirt");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "box.img"), Buffer.alloc(imageBytes));
  writeFileSync(path.join(dir, "metadata.json"), '{"provider":"libvirt","format":"qcow2","virtual_size":2}');
  writeFileSync(path.join(dir, "Vagrantfile"), "Vagrant.configure('2') do |config|\nend\n");
}

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  user = await makeUser(t.db, "cat-user@example.com");
  admin = await makeUser(t.db, "cat-admin@example.com", "ADMIN");
});
afterAll(async () => t.close());

describe("the default catalog", () => {
  it("seeds no test box: local/tiny exists only where a test makes it", async () => {
    await ensureDefaultCatalog(t.db);
    expect(DEFAULT_BOXES.map((b) => b.name)).toEqual(["local/debian12"]);
    expect(await t.db.box.findUnique({ where: { name: "local/tiny" } })).toBeNull();
  });
});

describe("parseBoxList on real output", () => {
  const fixture = (name: string) => readFileSync(path.resolve(import.meta.dirname, "../../fixtures/vagrant", name), "utf8");
  it("reads the installed box, and nothing from the empty list's warning", () => {
    expect(parseBoxList(fixture("box-list-machine-readable.txt"))).toEqual([{ name: "local/debian12", provider: "libvirt", version: "0" }]);
    expect(parseBoxList(fixture("box-list-empty-machine-readable.txt"))).toEqual([]);
  });
});

describe("installed boxes decide what is offered", () => {
  it("offers only enabled entries whose box is installed, and Admin → Catalog marks the missing ones", async () => {
    await tinyBox(t.db);
    await t.db.box.create({ data: { name: "acme/missing", displayName: "Not on this host", osFamily: "debian" } });
    installBox("local/tiny", 4096);
    const launchable = await listLaunchableBoxes(t.db);
    expect(launchable.installedError).toBeNull();
    expect(launchable.boxes.map((b) => b.name)).toEqual(["local/tiny"]);
    expect((await caller(user).vms.catalog()).boxes.map((b) => b.name)).toEqual(["local/tiny"]);

    const admin = await catalogWithInstalled(t.db);
    expect(Object.fromEntries(admin.entries.map((e) => [e.name, e.installed]))).toEqual({ "local/debian12": false, "local/tiny": true, "acme/missing": false });
    const tiny = admin.installed.find((b) => b.name === "local/tiny")!;
    expect(tiny).toMatchObject({ provider: "libvirt", version: "0", inCatalog: true });
    // box.img + metadata.json + Vagrantfile, measured from the files.
    const files = readdirSync(path.join(boxesDir, "local-VAGRANTSLASH-tiny", "0", "libvirt")).map(
      (f) => statSync(path.join(boxesDir, "local-VAGRANTSLASH-tiny", "0", "libvirt", f)).size,
    );
    expect(files).toHaveLength(3);
    expect(tiny.sizeBytes).toBe(files.reduce((a, b) => a + b, 0));
    expect(tiny.sizeBytes).toBeGreaterThan(4096);
    expect(tiny.addedAt).toBeInstanceOf(Date);
  });

  it("re-reads the list only when VAGRANT_HOME/boxes changes", async () => {
    // Whole seconds, so that putting the time back is exact.
    const tinyDir = path.join(boxesDir, "local-VAGRANTSLASH-tiny");
    const pinned = new Date("2026-01-01T00:00:00Z");
    utimesSync(tinyDir, pinned, pinned);
    const before = await installedBoxes();
    // A new version folder appears inside a box but its mtime is put back: the cached answer stands (no vagrant run).
    mkdirSync(path.join(tinyDir, "1", "libvirt"), { recursive: true });
    utimesSync(tinyDir, pinned, pinned);
    const cached = await installedBoxes();
    expect(cached).toBe(before);
    expect(cached.boxes.map((b) => `${b.name}@${b.version}`)).toEqual(["local/tiny@0"]);
    // A real change (`box add` writes a folder now): read again, and both changes are there.
    installBox("local/debian12", 1024);
    const fresh = await installedBoxes();
    expect(fresh).not.toBe(before);
    expect(fresh.boxes.map((b) => `${b.name}@${b.version}`).sort()).toEqual(["local/debian12@0", "local/tiny@0", "local/tiny@1"]);
  });

  it("refuses to launch a catalog box that is not installed, in words", async () => {
    const missing = await t.db.box.findUniqueOrThrow({ where: { name: "acme/missing" } });
    await expect(caller(user).vms.create({ name: "nope", boxId: missing.id, cpus: 1, ramMb: 512, diskGb: 10 })).rejects.toThrow(
      "The box acme/missing is not installed on this host, so it cannot be launched.",
    );
    expect(await t.db.vm.count({ where: { name: "nope" } })).toBe(0);
  });
});

describe("create once per submit", () => {
  it("a double click (two calls, one key) makes one VM and answers both with it", async () => {
    const box = await t.db.box.findUniqueOrThrow({ where: { name: "local/tiny" } });
    const input = { name: "twice", boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, requestKey: "0b9e3c1e-5a43-4c1c-9d0e-2f7f1f0a9d11" };
    const [a, b] = await Promise.all([caller(user).vms.create(input), caller(user).vms.create(input)]);
    expect(b).toEqual(a);
    expect(await t.db.vm.count({ where: { ownerId: user.id, name: "twice" } })).toBe(1);
    // The same key from another user is that user's own launch.
    const other = await caller(admin).vms.create(input);
    expect(other.id).not.toBe(a.id);
  });

  it("a new submit (a new key) is a new launch: the name conflict says so", async () => {
    const box = await t.db.box.findUniqueOrThrow({ where: { name: "local/tiny" } });
    const input = { name: "twice", boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, requestKey: "5f1c2d4e-0000-4000-8000-000000000002" };
    await expect(caller(user).vms.create(input)).rejects.toThrow("You already have a VM named twice.");
  });
});
