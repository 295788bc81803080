// The terminal session manager against a real SSH server with a real shell on
// a real PTY (the stand-in guest), real per-VM keys made by ssh-keygen, and a
// real migrated SQLite database: who may open, limits, the idle timeout, what
// closes a terminal, replay after a dropped stream, and the events.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "~/server/errors";
import type { Actor } from "~/server/permissions";
import { ensureVmKey, insecureKeyPath, vmPublicKey } from "~/server/access/vm-key";
import { TerminalSessions, terminalOptionsFromEnv, type OutputChunk, type TerminalOptions } from "~/server/access/terminal-sessions";
import { createTestDb, type TestDb } from "../../support/db";
import { GUEST_PROMPT, startStandInGuest, terminalVmData, type StandInGuest } from "./terminal-guest";

let t: TestDb;
let guest: StandInGuest;
let alice: Actor, bob: Actor, admin: Actor;
let boxId: string;
const managers: TerminalSessions[] = [];

async function makeVm(ownerId: string, name: string, extra: { state?: "RUNNING" | "STOPPED"; ipAddress?: string | null; port?: number } = {}) {
  const vm = await t.db.vm.create({
    data: terminalVmData(name, ownerId, boxId, {
      state: extra.state ?? "RUNNING",
      ipAddress: extra.ipAddress === undefined ? "127.0.0.1" : extra.ipAddress,
      sshPort: extra.port ?? guest?.port,
    }),
  });
  await ensureVmKey(vm.id);
  return vm;
}

function manager(overrides: Partial<TerminalOptions> = {}) {
  const m = new TerminalSessions(t.db, { ...terminalOptionsFromEnv(), maxPerVm: 2, maxPerUser: 3, sweepMs: 100, connectTimeoutMs: 5000, ...overrides });
  managers.push(m);
  return m;
}

async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Follows a terminal like a browser stream does. */
async function follow(m: TerminalSessions, actor: Actor, id: string, after = 0) {
  const seen = { text: "", chunks: [] as OutputChunk[], gaps: 0, closed: null as string | null };
  const detach = await m.attach(actor, id, after, {
    output: (c) => {
      seen.chunks.push(c);
      seen.text += c.data;
    },
    gap: () => seen.gaps++,
    closed: (reason) => (seen.closed = reason),
  });
  return { seen, detach, lastSeq: () => seen.chunks.at(-1)?.seq ?? after };
}

async function refusal(p: Promise<unknown>): Promise<DomainError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}

const size = { cols: 100, rows: 30 };
let inputSeq = 0;
const type = (m: TerminalSessions, actor: Actor, id: string, data: string) => m.write(actor, id, ++inputSeq, data);

beforeAll(async () => {
  t = await createTestDb();
  const users = await Promise.all(
    [
      ["alice@example.com", "USER"],
      ["bob@example.com", "USER"],
      ["admin@example.com", "ADMIN"],
    ].map(([email, role]) => t.db.user.create({ data: { email: email!, role: role as "USER" | "ADMIN" } })),
  );
  [alice, bob, admin] = users.map((u): Actor => ({ id: u.id, email: u.email, role: u.role })) as [Actor, Actor, Actor];
  boxId = (await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } })).id;
  guest = await startStandInGuest({ authorizedKeys: [] });
});

afterEach(() => {
  for (const m of managers.splice(0)) m.dispose();
});

afterAll(async () => {
  await guest?.close();
  await t?.close();
});

/** A running VM of `owner` whose own key the stand-in guest accepts. */
async function reachableVm(owner: Actor, name: string) {
  await guest.close();
  const vm = await makeVm(owner.id, name);
  const keys = await t.db.vm.findMany({ select: { id: true } });
  const publicKeys = (await Promise.all(keys.map((k) => vmPublicKey(k.id)))).filter((k): k is string => !!k);
  guest = await startStandInGuest({ authorizedKeys: publicKeys });
  await t.db.vm.updateMany({ data: { sshPort: guest.port } });
  return vm;
}

describe("opening a terminal", () => {
  it("gives the owner a shell as the VM's login user, with the browser's size, that echoes and runs commands", async () => {
    const vm = await reachableVm(alice, "web-1");
    const m = manager();
    const { id, vmName } = await m.open(alice, { vmId: vm.id, ...size });
    expect(vmName).toBe("web-1");
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(guest.windows.at(-1)).toEqual({ ...size, term: "xterm-256color" });
    const { seen } = await follow(m, alice, id);
    await waitFor("the prompt", () => seen.text.includes(GUEST_PROMPT));
    await type(m, alice, id, "echo $((6*7)); stty size\r");
    // bash switches bracketed paste off (ESC[?2004l) before it runs the line.
    await waitFor("the answer", () => /\r42\r\n30 100\r\n/.test(seen.text));
    await m.resize(alice, id, 120, 40);
    await waitFor("the window change at the guest", () => guest.windows.some((w) => w.cols === 120 && w.rows === 40));
  });

  it("lets an admin open one on another user's VM", async () => {
    const vm = await reachableVm(alice, "web-admin");
    const m = manager();
    const { id } = await m.open(admin, { vmId: vm.id, ...size });
    const { seen } = await follow(m, admin, id);
    await type(m, admin, id, "echo admin-$((2+3))\r");
    await waitFor("the admin's output", () => seen.text.includes("admin-5"));
  });

  it("tells anyone else the VM does not exist, exactly as for a missing VM, and keeps them off others' terminals", async () => {
    const vm = await reachableVm(alice, "web-private");
    const m = manager();
    const others = await refusal(m.open(bob, { vmId: vm.id, ...size }));
    const missing = await refusal(m.open(bob, { vmId: "cmissingvmid0000000000000", ...size }));
    expect(others.code).toBe("NOT_FOUND");
    expect([others.code, others.message]).toEqual([missing.code, missing.message]);
    expect(guest.shellsStarted()).toBe(0);

    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    const unknownId = "A".repeat(43);
    for (const attempt of [
      () => m.attach(bob, id, 0, { output() {}, gap() {}, closed() {} }),
      () => m.write(bob, id, 1, "echo bob was here\r"),
      () => m.resize(bob, id, 10, 10),
      () => m.close(bob, id),
      () => m.write(admin, id, 1, "echo admin was here\r"),
    ]) {
      const mine = await refusal(attempt());
      expect([mine.code, mine.message]).toEqual(["NOT_FOUND", (await refusal(m.close(bob, unknownId))).message]);
    }
    expect(m.list().filter((s) => !s.closed)).toHaveLength(1);
  });

  it("refuses a VM that is not running, or has no address yet, with a clear message", async () => {
    const m = manager();
    const stopped = await makeVm(alice.id, "web-stopped", { state: "STOPPED" });
    const e1 = await refusal(m.open(alice, { vmId: stopped.id, ...size }));
    expect([e1.code, e1.message]).toEqual(["CONFLICT", "web-stopped stopped: a terminal needs the VM running (start it first)."]);
    const noAddress = await makeVm(alice.id, "web-noip", { ipAddress: null });
    const e2 = await refusal(m.open(alice, { vmId: noAddress.id, ...size }));
    expect([e2.code, e2.message]).toEqual(["CONFLICT", "web-noip is running but has no address yet: try again in a moment."]);
  });

  it("offers the guest the VM's own key and nothing else (not Vagrant's shared key)", async () => {
    // A guest that still accepts only the shared key refuses the terminal.
    const shared = insecureKeyPath();
    mkdirSync(path.dirname(shared), { recursive: true });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", shared]);
    const oldGuest = await startStandInGuest({ authorizedKeys: [execFileSync("ssh-keygen", ["-y", "-f", shared], { encoding: "utf8" })] });
    try {
      const vm = await makeVm(alice.id, "web-oldkey", { port: oldGuest.port });
      const m = manager();
      const err = await refusal(m.open(alice, { vmId: vm.id, ...size }));
      expect(err.code).toBe("PRECONDITION_FAILED");
      expect(err.message).toMatch(/^Could not reach web-oldkey over SSH \(All configured authentication methods failed\)/);
      expect(oldGuest.accepted).toBe(0);
      expect(m.list()).toEqual([]);
    } finally {
      await oldGuest.close();
    }
  });

  it("refuses a VM without a key of its own", async () => {
    const vm = await t.db.vm.create({ data: terminalVmData("web-nokey", alice.id, boxId, { sshPort: guest.port, sshUser: null }) });
    const err = await refusal(manager().open(alice, { vmId: vm.id, ...size }));
    expect(err.code).toBe("PRECONDITION_FAILED");
    expect(err.message).toContain("has no key of its own yet");
  });
});

describe("limits", () => {
  it("holds the per-VM limit even when opens race", async () => {
    const vm = await reachableVm(alice, "web-race");
    const m = manager({ maxPerVm: 2, maxPerUser: 10 });
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => m.open(alice, { vmId: vm.id, ...size })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as DomainError);
    expect(refused.map((e) => [e.code, e.message])).toEqual(
      Array(2).fill(["TOO_MANY_REQUESTS", "web-race already has 2 open terminals, the most allowed on one VM: close one first."]),
    );
    // Another user's (an admin's) terminal counts on the VM too; closing one frees a place.
    const err = await refusal(m.open(admin, { vmId: vm.id, ...size }));
    expect(err.code).toBe("TOO_MANY_REQUESTS");
    const first = (results[0]!.status === "fulfilled" ? results[0] : results[1]) as PromiseFulfilledResult<{ id: string }>;
    await m.close(alice, first.value.id);
    await m.open(admin, { vmId: vm.id, ...size });
  });

  it("holds the per-user limit across VMs", async () => {
    const a = await reachableVm(alice, "web-u1");
    const b = await reachableVm(alice, "web-u2");
    const m = manager({ maxPerVm: 2, maxPerUser: 3 });
    await m.open(alice, { vmId: a.id, ...size });
    await m.open(alice, { vmId: a.id, ...size });
    await m.open(alice, { vmId: b.id, ...size });
    const err = await refusal(m.open(alice, { vmId: b.id, ...size }));
    expect([err.code, err.message]).toEqual(["TOO_MANY_REQUESTS", "You already have 3 terminals open, the most allowed per user: close one first."]);
    // The limit is the user's: an admin still gets a place on b.
    await m.open(admin, { vmId: b.id, ...size });
  });
});

describe("closing", () => {
  it("closes after the idle timeout, counted from the last input", async () => {
    const vm = await reachableVm(alice, "web-idle");
    const m = manager({ idleMs: 1200 });
    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    const opened = Date.now();
    const { seen } = await follow(m, alice, id);
    await new Promise((r) => setTimeout(r, 700));
    // Taken before the keystroke reaches the server, so the idle time counted from it is never shorter than the server's.
    const typed = Date.now();
    await type(m, alice, id, "true\r");
    await waitFor("the idle close", () => seen.closed);
    const closedAt = Date.now();
    expect(seen.closed).toBe("no input for 1 s");
    expect(closedAt - typed).toBeGreaterThanOrEqual(1200);
    expect(closedAt - opened).toBeGreaterThan(1800);
    expect(closedAt - typed).toBeLessThan(1200 + 2000);
    await waitFor("the shell to end at the guest", () => guest.shellsRunning() === 0);
  });

  it("closes with a message when the VM stops, within the check interval", async () => {
    const vm = await reachableVm(alice, "web-stop");
    const m = manager({ sweepMs: 500 });
    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    const { seen } = await follow(m, alice, id);
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "STOPPING" } });
    const changed = Date.now();
    await waitFor("the close", () => seen.closed);
    expect(seen.closed).toBe("web-stop is stopping");
    expect(Date.now() - changed).toBeLessThan(500 + 1500);
    const err = await refusal(type(m, alice, id, "echo too late\r"));
    expect([err.code, err.message]).toEqual(["CONFLICT", "The terminal is closed: web-stop is stopping."]);
    await waitFor("the shell to end at the guest", () => guest.shellsRunning() === 0);
  });

  it("notices a stopped VM when a browser reconnects, before the periodic check does", async () => {
    const vm = await reachableVm(alice, "web-recheck");
    const m = manager({ sweepMs: 60_000 });
    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "STOPPED" } });
    const f = await follow(m, alice, id);
    expect(f.seen.closed).toBe("web-recheck stopped");
  });

  it("closes when the VM is destroyed", async () => {
    const vm = await reachableVm(alice, "web-gone");
    const m = manager();
    const { id } = await m.open(admin, { vmId: vm.id, ...size });
    const { seen } = await follow(m, admin, id);
    await t.db.vm.update({ where: { id: vm.id }, data: { state: "DESTROYED", activeName: null } });
    await waitFor("the close", () => seen.closed);
    expect(seen.closed).toBe("web-gone was destroyed");
  });

  it("closes the terminals of a user who is disabled", async () => {
    const carol = await t.db.user.create({ data: { email: "carol@example.com" } });
    const carolActor: Actor = { id: carol.id, email: carol.email, role: "USER" };
    const vm = await reachableVm(carolActor, "web-carol");
    const m = manager();
    const { id } = await m.open(carolActor, { vmId: vm.id, ...size });
    const other = await m.open(admin, { vmId: vm.id, ...size });
    const { seen } = await follow(m, carolActor, id);
    await t.db.user.update({ where: { id: carol.id }, data: { disabled: true } });
    await waitFor("the close", () => seen.closed);
    expect(seen.closed).toBe("your account was disabled");
    // The admin's terminal on the same VM stays.
    expect(m.list().find((s) => s.actorId === admin.id && !s.closed)).toBeTruthy();
    await m.close(admin, other.id);
  });

  it("closes when an admin loses the role while on another user's VM", async () => {
    const former = await t.db.user.create({ data: { email: "former-admin@example.com", role: "ADMIN" } });
    const actor: Actor = { id: former.id, email: former.email, role: "ADMIN" };
    const vm = await reachableVm(alice, "web-demoted");
    const m = manager();
    const { id } = await m.open(actor, { vmId: vm.id, ...size });
    const { seen } = await follow(m, actor, id);
    await t.db.user.update({ where: { id: former.id }, data: { role: "USER" } });
    await waitFor("the close", () => seen.closed);
    expect(seen.closed).toBe("you no longer have access to web-demoted");
  });

  it("ends when the shell exits or the guest drops the connection", async () => {
    const vm = await reachableVm(alice, "web-exit");
    const m = manager();
    const a = await m.open(alice, { vmId: vm.id, ...size });
    const fa = await follow(m, alice, a.id);
    await waitFor("the prompt", () => fa.seen.text.includes(GUEST_PROMPT));
    await type(m, alice, a.id, "exit\r");
    await waitFor("the close", () => fa.seen.closed);
    expect(fa.seen.closed).toBe("the shell ended");

    const b = await m.open(alice, { vmId: vm.id, ...size });
    const fb = await follow(m, alice, b.id);
    guest.dropAll();
    await waitFor("the close", () => fb.seen.closed);
    expect(fb.seen.closed).toBe("the SSH connection to web-exit closed");
  });

  it("closes a terminal no browser has followed for a while", async () => {
    const vm = await reachableVm(alice, "web-left");
    const m = manager({ detachedMs: 400 });
    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    const f = await follow(m, alice, id);
    await new Promise((r) => setTimeout(r, 700));
    expect(f.seen.closed).toBeNull();
    f.detach();
    await waitFor("the close", () => m.list().find((s) => s.closed)?.closed);
    expect(m.list()[0]!.closed).toBe("no browser was attached");
  });
});

describe("reconnecting", () => {
  it("replays exactly what a dropped stream missed, and a closed terminal says why", async () => {
    const vm = await reachableVm(alice, "web-blip");
    const m = manager();
    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    const first = await follow(m, alice, id);
    await type(m, alice, id, "echo before-$((1+1))\r");
    await waitFor("the first answer", () => first.seen.text.includes("before-2"));
    const last = first.lastSeq();
    first.detach();
    await type(m, alice, id, "echo during-$((2+2))\r");
    await new Promise((r) => setTimeout(r, 400));

    const second = await follow(m, alice, id, last);
    await waitFor("the missed answer", () => second.seen.text.includes("during-4"));
    expect(second.seen.chunks[0]!.seq).toBe(last + 1);
    expect(second.seen.text).not.toContain("before-2");
    expect(second.seen.gaps).toBe(0);
    // Sequence numbers continue without a hole.
    expect(second.seen.chunks.map((c) => c.seq)).toEqual(second.seen.chunks.map((_, i) => last + 1 + i));

    // A retried input request (same number) is not typed twice.
    const seq = ++inputSeq;
    await m.write(alice, id, seq, "echo $((1000+1))\r");
    await m.write(alice, id, seq, "echo $((1000+1))\r");
    await waitFor("the answer", () => second.seen.text.includes("1001"));
    await new Promise((r) => setTimeout(r, 300));
    expect(second.seen.text.split("1001").length - 1).toBe(1);

    await m.close(alice, id);
    expect(second.seen.closed).toBe("closed by you");
    const late = await follow(m, alice, id, second.lastSeq());
    expect(late.seen.closed).toBe("closed by you");
  });

  it("says so when the missed output is no longer kept", async () => {
    const vm = await reachableVm(alice, "web-flood");
    const m = manager({ bufferChars: 2000 });
    const { id } = await m.open(alice, { vmId: vm.id, ...size });
    const f = await follow(m, alice, id);
    await waitFor("the prompt", () => f.seen.text.includes(GUEST_PROMPT));
    const seen = f.lastSeq();
    f.detach();
    await type(m, alice, id, "for i in $(seq 1 400); do echo line-$i; done; echo done-$((5*5))\r");
    const again = await waitFor("the output", async () => {
      const g = await follow(m, alice, id, seen);
      g.detach();
      return g.seen.text.includes("done-25") ? g : null;
    });
    expect(again.seen.gaps).toBe(1);
    expect(again.seen.text.length).toBeLessThanOrEqual(2000);
    expect(again.seen.text).toContain("line-400");
    expect(again.seen.text).not.toContain("line-1\r\n");
  });
});

describe("events", () => {
  it("records the closing of every open terminal when the app stops gracefully", async () => {
    const vm = await reachableVm(alice, "web-shutdown");
    const m = manager();
    await m.open(alice, { vmId: vm.id, ...size });
    await m.open(admin, { vmId: vm.id, ...size });
    await m.closeAll("the app is stopping");
    const closings = await t.db.event.findMany({ where: { targetVmId: vm.id, action: "vm.terminal.close" } });
    expect(closings.map((e) => (e.details as { reason: string }).reason)).toEqual(["the app is stopping", "the app is stopping"]);
    await waitFor("the shells to end at the guest", () => guest.shellsRunning() === 0);
  });

  it("records opening and closing with who, which VM and how long, and never what was typed", async () => {
    const vm = await reachableVm(alice, "web-events");
    const m = manager();
    const { id } = await m.open(admin, { vmId: vm.id, ...size }, { sourceIp: "192.0.2.7", userAgent: "test-browser" });
    const f = await follow(m, admin, id);
    await type(m, admin, id, "echo hunter2-secret-keystrokes\r");
    await waitFor("the echo", () => f.seen.text.includes("hunter2-secret-keystrokes"));
    await new Promise((r) => setTimeout(r, 1100));
    await m.close(admin, id);
    const events = await waitFor("both events", async () => {
      const rows = await t.db.event.findMany({ where: { targetVmId: vm.id }, orderBy: { createdAt: "asc" } });
      return rows.length === 2 ? rows : null;
    });
    expect(events.map((e) => [e.type, e.action, e.actorId, e.actorEmail, e.targetUserId, e.targetVmId, e.sourceIp])).toEqual([
      ["vm", "vm.terminal.open", admin.id, admin.email, alice.id, vm.id, "192.0.2.7"],
      ["vm", "vm.terminal.close", admin.id, admin.email, alice.id, vm.id, "192.0.2.7"],
    ]);
    expect(events[0]!.message).toBe("admin@example.com opened a terminal on web-events");
    const details = events[1]!.details as { terminal: string; durationS: number; reason: string };
    expect(details.reason).toBe("closed by you");
    expect(details.durationS).toBeGreaterThanOrEqual(1);
    expect(details.terminal).toBe((events[0]!.details as { terminal: string }).terminal);
    expect(events[1]!.message).toMatch(/^admin@example\.com's terminal on web-events closed after \d+ s: closed by you$/);
    const everything = JSON.stringify(await t.db.event.findMany());
    expect(everything).not.toContain("hunter2");
    expect(everything).not.toContain(id);
  });
});
