// Admin → Catalog adds a box from a file on the host or a URL: `vagrant box add --machine-readable` (the
// stand-in vagrant, which prints vagrant 2.x's progress lines and lays the box out under VAGRANT_HOME as vagrant
// does) runs in the background while its BoxAdd row shows the progress; the request is audited, the end is an event.
import "../../support/stand-in-host";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { addBox } from "~/server/admin/box-add";
import { createCaller } from "~/server/api/root";
import { env, type Env } from "~/server/env";
import type { Actor } from "~/server/permissions";
import { installedBoxes } from "~/server/vms/installed-boxes";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A VAGRANT_HOME of its own, with the stand-in's control file (fake-vagrant.json) beside it. */
function vagrantEnv(control: Record<string, unknown> = {}): Env {
  const dir = mkdtempSync(path.join(tmpdir(), "box-add-"));
  writeFileSync(path.join(dir, "fake-vagrant.json"), JSON.stringify(control));
  return { ...env(), VAGRANT_HOME: path.join(dir, "vagrant.d") };
}

const boxFile = (bytes: number) => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "box-file-")), "tiny.box");
  writeFileSync(file, Buffer.alloc(bytes, 7));
  return file;
};

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  let t: TestDb;
  let admin: Actor, user: Actor;

  beforeAll(async () => {
    t = await createTestDb({ provider });
    const mk = async (email: string, role: "USER" | "ADMIN") => ({ id: (await t.db.user.create({ data: { email, role } })).id, email, role }) satisfies Actor;
    admin = await mk("admin@example.com", "ADMIN");
    user = await mk("user@example.com", "USER");
  });
  afterAll(async () => t?.close());

  it("adds a box from a host file: progress rises while it runs, then the box is installed and listed with its size", async () => {
    const e = vagrantEnv({ box: { delayMs: 250 } });
    const { add, finished } = await addBox(t.db, admin, { source: { kind: "path", path: boxFile(12_345) }, name: "local/added" }, e);
    expect(add.state).toBe("RUNNING");
    const seen: number[] = [];
    let done = false;
    void finished.finally(() => (done = true));
    while (!done) {
      const row = await t.db.boxAdd.findUniqueOrThrow({ where: { id: add.id } });
      if (row.state === "RUNNING") seen.push(row.progress);
      await sleep(50);
    }
    const row = await finished;
    expect(row.state).toBe("SUCCEEDED");
    expect(row.progress).toBe(100);
    expect(row.endedAt).not.toBeNull();
    expect(row.output).toContain("Successfully added box 'local/added' (v0) for 'libvirt'!");
    // Progress was seen part-way (neither nothing nor done) and never went down.
    expect(seen.some((p) => p > 0 && p < 100)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));

    const listed = (await installedBoxes(e)).boxes.find((b) => b.name === "local/added");
    expect(listed).toMatchObject({ provider: "libvirt", version: "0" });
    // The box's folder holds box.img (the file's 12 345 bytes), metadata.json and Vagrantfile.
    expect(listed!.sizeBytes).toBeGreaterThan(12_345);
    expect(listed!.addedAt).toBeInstanceOf(Date);

    const event = await t.db.event.findFirstOrThrow({ where: { action: "box.add.succeeded" } });
    expect(event).toMatchObject({ type: "admin", actorId: admin.id });
  }, 30_000);

  it("refuses a missing, relative, dotted or directory path before anything runs", async () => {
    const e = vagrantEnv();
    const dir = mkdtempSync(path.join(tmpdir(), "box-dir-"));
    mkdirSync(path.join(dir, "sub"));
    const file = boxFile(10);
    const before = await t.db.boxAdd.count();
    for (const p of [
      path.join(dir, "missing.box"),
      "relative/tiny.box",
      `${path.dirname(file)}/../${path.basename(path.dirname(file))}/tiny.box`,
      dir,
      "/dev/null",
    ])
      await expect(addBox(t.db, admin, { source: { kind: "path", path: p }, name: "local/refused" }, e)).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(await t.db.boxAdd.count()).toBe(before);
  });

  it("a failing add ends FAILED with vagrant's message", async () => {
    const e = vagrantEnv({ box: { fail: "error" } });
    const { finished } = await addBox(t.db, admin, { source: { kind: "path", path: boxFile(10) }, name: "local/broken" }, e);
    const row = await finished;
    expect(row.state).toBe("FAILED");
    expect(row.error).toContain("unpacking the box");
    expect(await t.db.event.count({ where: { action: "box.add.failed" } })).toBe(1);
  });

  it("adds a box from an http URL (served here), and an unreachable URL ends FAILED with the downloader's words", async () => {
    const e = vagrantEnv();
    const server = createServer((_req, res) => res.end(Buffer.alloc(5000, 1)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/web.box`;
      const ok = await (await addBox(t.db, admin, { source: { kind: "url", url }, name: "local/web" }, e)).finished;
      expect(ok).toMatchObject({ state: "SUCCEEDED", source: url });
      expect((await installedBoxes(e)).boxes.find((b) => b.name === "local/web")?.sizeBytes).toBeGreaterThan(5000);
    } finally {
      server.close();
    }
    const bad = await (await addBox(t.db, admin, { source: { kind: "url", url: "http://127.0.0.1:9/none.box" }, name: "local/unreachable" }, e)).finished;
    expect(bad.state).toBe("FAILED");
    expect(bad.error).toContain("Failed to connect to 127.0.0.1 port 9");
  }, 30_000);

  it("refuses a second add of a name while one runs", async () => {
    const e = vagrantEnv({ box: { delayMs: 200 } });
    const { finished } = await addBox(t.db, admin, { source: { kind: "path", path: boxFile(10) }, name: "local/twice" }, e);
    await expect(addBox(t.db, admin, { source: { kind: "path", path: boxFile(10) }, name: "local/twice" }, e)).rejects.toMatchObject({ code: "CONFLICT" });
    expect((await finished).state).toBe("SUCCEEDED");
  }, 30_000);

  it("refuses non-admins; through the router, the request writes one audit row and the end an event", async () => {
    const caller = (actor: Actor) => createCaller({ db: t.db, actor, sourceIp: "192.0.2.1", userAgent: "vitest" });
    const input = { source: { kind: "path" as const, path: boxFile(10) }, name: "local/routed" };
    await expect(caller(user).admin.boxAdd(input)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller(user).admin.boxAdds()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(addBox(t.db, user, input)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller(admin).admin.boxAdd({ ...input, source: { kind: "url", url: "ftp://example.com/x.box" } })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });

    const add = await caller(admin).admin.boxAdd(input);
    for (let i = 0; i < 200 && (await t.db.boxAdd.findUniqueOrThrow({ where: { id: add.id } })).state === "RUNNING"; i++) await sleep(50);
    const adds = await caller(admin).admin.boxAdds();
    expect(adds.find((a) => a.id === add.id)).toMatchObject({ state: "SUCCEEDED", progress: 100, requestedByEmail: admin.email });
    const audit = await t.db.auditLog.findMany({ where: { action: "admin.boxAdd" } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ targetType: "BoxAdd", targetId: add.id });
    const finishedEvent = async () =>
      (await t.db.event.findMany({ where: { action: "box.add.succeeded" } })).find((ev) => (ev.details as { boxAddId?: string } | null)?.boxAddId === add.id);
    for (let i = 0; i < 100 && !(await finishedEvent()); i++) await sleep(50);
    expect(await finishedEvent()).toMatchObject({ type: "admin", actorId: admin.id });
  }, 30_000);
});
