// Users' SSH keys against a real database (SQLite, and PostgreSQL when
// TEST_POSTGRES_URL is set), with real keys from ssh-keygen: add, list,
// remove, duplicates, who may see and remove whose keys, and the events.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

// The key sync is its own unit (and runs VMs); here we check that every change asks for it.
const syncs = vi.hoisted(() => [] as string[]);
vi.mock("~/server/access/key-sync", () => ({ scheduleKeySync: (_db: unknown, userId: string) => void syncs.push(userId) }));

import { addSshKey, listSshKeys, removeSshKey } from "~/server/access/user-keys";
import { createCaller } from "~/server/api/root";
import { listEvents } from "~/server/events/feed";
import { canManageSshKeys, canRevokeSshKeys, type Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

let dir: string;
const keys: Record<string, { pub: string; priv: string; fingerprint: string; bits: number }> = {};
const REQUEST = { sourceIp: "198.51.100.7", userAgent: "vitest keys" };

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "twarga-user-keys-"));
  for (const [name, args] of [
    ["laptop", ["-t", "ed25519"]],
    ["phone", ["-t", "ecdsa", "-b", "256"]],
    ["old", ["-t", "rsa", "-b", "2048"]],
  ] as const) {
    const f = path.join(dir, name);
    execFileSync("ssh-keygen", ["-q", ...args, "-N", "", "-C", `${name}@example`, "-f", f]);
    const [bits, fingerprint] = execFileSync("ssh-keygen", ["-lf", `${f}.pub`], { encoding: "utf8" }).split(" ");
    keys[name] = { pub: readFileSync(`${f}.pub`, "utf8"), priv: readFileSync(f, "utf8"), fingerprint: fingerprint!, bits: Number(bits) };
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let t: TestDb;
let admin: Actor, alice: Actor, bob: Actor;
const mk = async (email: string, role: "USER" | "ADMIN" = "USER"): Promise<Actor> => {
  const u = await t.db.user.create({ data: { email, role } });
  return { id: u.id, email, role };
};
const keyEvents = () => t.db.event.findMany({ where: { action: { startsWith: "sshkey." } }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
const callerFor = (actor: Actor | null) => createCaller({ db: t.db, actor, ...REQUEST });

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeEach(async () => {
    t = await createTestDb({ provider });
    admin = await mk("admin@example.com", "ADMIN");
    alice = await mk("alice@example.com");
    bob = await mk("bob@example.com");
    syncs.length = 0;
  });
  afterEach(() => t.close());

  it("adds, lists and removes a key, storing it normalised, with events and a key sync each time", async () => {
    const added = await addSshKey(t.db, alice, { label: "  work laptop ", publicKey: `\n  ${keys.laptop!.pub}  \n` }, REQUEST);
    expect(added).toMatchObject({
      userId: alice.id,
      label: "work laptop",
      type: "ssh-ed25519",
      kind: "ED25519",
      bits: 256,
      fingerprint: keys.laptop!.fingerprint,
    });
    const phone = await addSshKey(t.db, alice, { publicKey: keys.phone!.pub }, REQUEST);
    expect(phone).toMatchObject({ label: "phone@example", type: "ecdsa-sha2-nistp256", bits: keys.phone!.bits, fingerprint: keys.phone!.fingerprint });

    const stored = await t.db.sshKey.findUniqueOrThrow({ where: { id: added.id } });
    const [type, b64] = keys.laptop!.pub.trim().split(" ");
    expect(stored.publicKey).toBe(`${type} ${b64}`);

    expect((await listSshKeys(t.db, alice, alice.id)).map((k) => k.label)).toEqual(["work laptop", "phone@example"]);
    expect(syncs).toEqual([alice.id, alice.id]);

    expect(await removeSshKey(t.db, alice, added.id, REQUEST)).toEqual({ id: added.id });
    expect((await listSshKeys(t.db, alice, alice.id)).map((k) => k.id)).toEqual([phone.id]);
    expect(syncs).toEqual([alice.id, alice.id, alice.id]);

    const events = await keyEvents();
    expect(events.map((e) => [e.type, e.action, e.severity])).toEqual([
      ["ssh", "sshkey.add", "INFO"],
      ["ssh", "sshkey.add", "INFO"],
      ["ssh", "sshkey.remove", "INFO"],
    ]);
    for (const e of events)
      expect(e).toMatchObject({ actorId: alice.id, actorEmail: alice.email, targetUserId: alice.id, sourceIp: REQUEST.sourceIp, userAgent: REQUEST.userAgent });
    expect(events[0]!.details).toEqual({ keyId: added.id, fingerprint: keys.laptop!.fingerprint, type: "ssh-ed25519", bits: 256, label: "work laptop" });
    expect(events[2]!.details).toMatchObject({ keyId: added.id, fingerprint: keys.laptop!.fingerprint, label: "work laptop" });
    expect(events[0]!.message).toContain(keys.laptop!.fingerprint);

    // The feed's type filter finds them, for alice, and not for bob.
    const feed = await listEvents(t.db, alice, { type: "ssh" });
    expect(feed.items.map((e) => e.action)).toEqual(["sshkey.remove", "sshkey.add", "sshkey.add"]);
    expect((await listEvents(t.db, bob, { type: "ssh" })).items).toEqual([]);
  });

  it("refuses a duplicate by fingerprint, even with another comment and label, and when added twice at once", async () => {
    await addSshKey(t.db, alice, { label: "laptop", publicKey: keys.laptop!.pub });
    const [type, b64] = keys.laptop!.pub.trim().split(" ");
    await expect(addSshKey(t.db, alice, { label: "same key again", publicKey: `${type} ${b64} renamed@elsewhere` })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringMatching(/^You already added this key, as “laptop” on \d{4}-\d{2}-\d{2}\./),
    });
    const both = await Promise.allSettled([addSshKey(t.db, alice, { publicKey: keys.old!.pub }), addSshKey(t.db, alice, { publicKey: keys.old!.pub })]);
    expect(both.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = both.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("already added this key") });
    expect(await t.db.sshKey.count({ where: { userId: alice.id } })).toBe(2);
    expect((await keyEvents()).length).toBe(2);
  });

  it("keeps one user's keys from another: bob cannot list or remove alice's, and adding hers to his account is his own copy", async () => {
    const key = await addSshKey(t.db, alice, { publicKey: keys.laptop!.pub });
    await expect(listSshKeys(t.db, bob, alice.id)).rejects.toMatchObject({ code: "NOT_FOUND", message: "User not found." });
    await expect(removeSshKey(t.db, bob, key.id)).rejects.toMatchObject({ code: "NOT_FOUND", message: "SSH key not found." });
    // A missing key and someone else's key look the same.
    await expect(removeSshKey(t.db, bob, "no-such-key")).rejects.toMatchObject({ code: "NOT_FOUND", message: "SSH key not found." });
    expect(await t.db.sshKey.count({ where: { id: key.id } })).toBe(1);
    expect(await listSshKeys(t.db, bob, bob.id)).toEqual([]);

    const bobs = await addSshKey(t.db, bob, { publicKey: keys.laptop!.pub });
    expect(bobs.userId).toBe(bob.id);
    await removeSshKey(t.db, bob, bobs.id);
    expect((await listSshKeys(t.db, alice, alice.id)).map((k) => k.id)).toEqual([key.id]);
    expect((await keyEvents()).map((e) => [e.action, e.actorId])).toEqual([
      ["sshkey.add", alice.id],
      ["sshkey.add", bob.id],
      ["sshkey.remove", bob.id],
    ]);
  });

  it("lets an admin see and revoke a user's key (a warning event the user sees), but never add one for them", async () => {
    const key = await addSshKey(t.db, alice, { label: "leaked", publicKey: keys.phone!.pub });
    expect((await listSshKeys(t.db, admin, alice.id)).map((k) => k.id)).toEqual([key.id]);
    await expect(listSshKeys(t.db, admin, "no-such-user")).rejects.toMatchObject({ code: "NOT_FOUND" });
    syncs.length = 0;
    await removeSshKey(t.db, admin, key.id, REQUEST);
    expect(syncs).toEqual([alice.id]);
    const revoked = (await keyEvents()).at(-1)!;
    expect(revoked).toMatchObject({ action: "sshkey.remove", severity: "WARNING", actorId: admin.id, targetUserId: alice.id });
    expect(revoked.message).toBe(`admin@example.com removed alice@example.com's SSH key “leaked” (ECDSA 256 bits, ${keys.phone!.fingerprint}).`);
    expect((await listEvents(t.db, alice, { type: "ssh" })).items.map((e) => e.id)).toContain(revoked.id);

    expect(canManageSshKeys(admin, alice.id)).toBe(false);
    expect(canRevokeSshKeys(admin, alice.id)).toBe(true);
    expect(canRevokeSshKeys(bob, alice.id)).toBe(false);
    // Whatever an admin adds lands in the admin's own account.
    expect((await addSshKey(t.db, admin, { publicKey: keys.laptop!.pub })).userId).toBe(admin.id);
    expect(await t.db.sshKey.count({ where: { userId: alice.id } })).toBe(0);
  });

  it("stores nothing and records nothing for a refused key", async () => {
    await expect(addSshKey(t.db, alice, { publicKey: keys.laptop!.priv })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("PRIVATE key"),
    });
    await expect(addSshKey(t.db, alice, { publicKey: "not a key" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(addSshKey(t.db, alice, { label: "x".repeat(101), publicKey: keys.laptop!.pub })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("the most is 100"),
    });
    expect(await t.db.sshKey.count()).toBe(0);
    expect(await keyEvents()).toEqual([]);
    expect(syncs).toEqual([]);
  });

  describe("through the tRPC router", () => {
    const codeOf = async (p: Promise<unknown>) => {
      try {
        await p;
        return "OK";
      } catch (err) {
        return err instanceof TRPCError ? err.code : String(err);
      }
    };

    it("adds, lists and removes for the signed-in user, with the request's address in the event", async () => {
      const c = callerFor(alice);
      const added = await c.sshKeys.add({ label: "from the page", publicKey: keys.old!.pub });
      expect(added).toMatchObject({ label: "from the page", kind: "RSA", bits: 2048, fingerprint: keys.old!.fingerprint });
      expect((await c.sshKeys.list()).map((k) => k.id)).toEqual([added.id]);
      await c.sshKeys.remove({ id: added.id });
      expect(await c.sshKeys.list()).toEqual([]);
      expect((await keyEvents()).map((e) => e.sourceIp)).toEqual([REQUEST.sourceIp, REQUEST.sourceIp]);
    });

    it("passes the domain's message through, and refuses strangers and the signed-out", async () => {
      const err = await callerFor(alice)
        .sshKeys.add({ publicKey: keys.laptop!.priv })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TRPCError);
      expect(err).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("treat it as exposed") });

      const key = await callerFor(alice).sshKeys.add({ publicKey: keys.laptop!.pub });
      expect(await codeOf(callerFor(bob).sshKeys.list({ userId: alice.id }))).toBe("NOT_FOUND");
      expect(await codeOf(callerFor(bob).sshKeys.remove({ id: key.id }))).toBe("NOT_FOUND");
      expect(await codeOf(callerFor(null).sshKeys.list())).toBe("UNAUTHORIZED");
      expect(await codeOf(callerFor(null).sshKeys.add({ publicKey: keys.phone!.pub }))).toBe("UNAUTHORIZED");
      expect(await codeOf(callerFor(admin).sshKeys.list({ userId: alice.id }))).toBe("OK");
      expect(await t.db.sshKey.count()).toBe(1);
    });
  });
});
