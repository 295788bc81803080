// The long-lived virsh the sampler talks to, against the real virsh and
// libvirt's built-in test driver (test:///default: no daemon needed, one
// running domain "test"). What it prints must be what a virsh process of its
// own prints, failures must carry virsh's own words, and no virsh may be left
// behind.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { parseDomstats } from "~/server/hypervisor/domstats";
import { commandFailure, runVirsh } from "~/server/hypervisor/virsh";
import { createVirshSession, virshSession, type VirshSession } from "~/server/hypervisor/virsh-session";
import { stopBackgroundServices } from "~/server/background";
import { VmStatsReader } from "~/server/hypervisor/vm-stats";

const hasVirsh = (() => {
  try {
    execFileSync("sh", ["-c", "command -v virsh"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const TEST_URI = "test:///default";
const TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f";
const UNKNOWN_UUID = "11111111-2222-3333-4444-555555555555";

/** This process's live child processes, from /proc (what `ps --ppid` would list). */
function childPids(): number[] {
  return readdirSync("/proc/self/task").flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number));
}
const commandOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return null;
  }
};
async function until(check: () => boolean, ms = 5000) {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

let sessions: VirshSession[] = [];
const session = (uri = TEST_URI, timeoutMs?: number) => {
  const s = createVirshSession({ bin: "virsh", uri, timeoutMs });
  sessions.push(s);
  return s;
};
afterEach(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  sessions = [];
});

describe.skipIf(!hasVirsh)("one long-lived virsh for the sampler", () => {
  it("prints what a separate virsh process prints, through one process for many commands", async () => {
    const s = session();
    const alone = await runVirsh(["domstats", "--raw"], parseEnv({ LIBVIRT_URI: TEST_URI }));
    const first = await s.run(["domstats", "--raw"]);
    expect(first.trim()).toBe(alone.trim());
    expect(parseDomstats(first)).toEqual(parseDomstats(alone));
    expect(parseDomstats(first).map((d) => d.name)).toEqual(["test"]);
    const pid = s.pid;
    expect(pid).toBeGreaterThan(0);
    expect(commandOf(pid!)).toEqual(["virsh", "-q", "--connect", TEST_URI]);
    for (let i = 0; i < 20; i++) expect(await s.run(["domstats", "--raw"])).toBe(first);
    expect(await s.run(["domname", TEST_UUID])).toBe("test");
    expect(await s.run(["list", "--all", "--name"])).toBe(await runVirsh(["-q", "list", "--all", "--name"], parseEnv({ LIBVIRT_URI: TEST_URI })));
    expect(s.pid).toBe(pid);
  });

  it("keeps commands in call order, one at a time, and passes arguments as given (spaces, quotes, #, ;)", async () => {
    const s = session();
    const said = await Promise.all(["a b", "it's", "#not a comment", "x; domname y", `"quoted"`, ""].map((word) => s.run(["echo", word])));
    // virsh's echo prints each argument as it reached the command.
    expect(said).toEqual(["a b", "it's", "#not a comment", "x; domname y", `"quoted"`, ""]);
    expect(await s.run(["echo", "plain"])).toBe("plain");
    await expect(s.run(["echo", "two\nlines"])).rejects.toThrow(/line break/);
  });

  it("a failing command rejects with virsh's error text, and the session keeps working", async () => {
    const s = session();
    await s.run(["uri"]);
    const pid = s.pid;
    const failed = await s.run(["domname", UNKNOWN_UUID]).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as { stderr: string }).stderr).toBe(`error: failed to get domain '${UNKNOWN_UUID}'`);
    // The same words a separate virsh process gives.
    const alone = await runVirsh(["domname", UNKNOWN_UUID], parseEnv({ LIBVIRT_URI: TEST_URI })).catch((e: unknown) => e);
    expect(commandFailure(failed)).toBe(commandFailure(alone));
    expect(await s.run(["domname", TEST_UUID])).toBe("test");
    expect(s.pid).toBe(pid);
  });

  it("a virsh killed from outside is replaced by the next command", async () => {
    const s = session();
    await s.run(["uri"]);
    const first = s.pid!;
    process.kill(first, "SIGKILL");
    await until(() => !childPids().includes(first));
    expect(await s.run(["domname", TEST_UUID])).toBe("test");
    expect(s.pid).not.toBe(first);
    expect(s.pid).toBeGreaterThan(0);
  });

  it("a command that hangs times out, its virsh is killed, and the next command gets a new one", async () => {
    const s = session(TEST_URI, 1500);
    await s.run(["uri"]);
    const hung = s.pid!;
    const started = Date.now();
    // Waits for libvirt events that never come.
    const error = await s.run(["event", "--all", "--loop"]).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(error).toMatchObject({ timedOut: true });
    expect(commandFailure(error)).toBe("timed out after 1500 ms");
    await until(() => !existsSync(`/proc/${hung}`));
    expect(await s.run(["domname", TEST_UUID])).toBe("test");
    expect(s.pid).not.toBe(hung);
  });

  it("when libvirt does not answer, the command rejects with libvirt's reason and the next one tries again", async () => {
    const s = session("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
    const error = await s.run(["domstats", "--raw"]).catch((e: unknown) => e);
    expect(commandFailure(error)).toBe(
      "failed to connect to the hypervisor: Failed to connect socket to '/nonexistent/libvirt-sock': No such file or directory",
    );
    expect(s.pid).toBeNull();
    const reader = new VmStatsReader(s.run);
    const [r] = await reader.read([{ id: "a", folder: "/nonexistent/a" }]);
    expect(r).toEqual({
      vmId: "a",
      status: "unavailable",
      reason: "libvirt unreachable: failed to connect to the hypervisor: Failed to connect socket to '/nonexistent/libvirt-sock': No such file or directory",
    });
  });

  it("close() ends the virsh process and leaves no child; later commands reject", async () => {
    const before = childPids();
    const s = session();
    await s.run(["domstats", "--raw"]);
    const pid = s.pid!;
    expect(childPids()).toContain(pid);
    await s.close();
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(childPids().filter((p) => !before.includes(p))).toEqual([]);
    await expect(s.run(["uri"])).rejects.toThrow(/closed/);
    expect(childPids().filter((p) => !before.includes(p))).toEqual([]);
  });

  it("the shutdown drain closes the process's shared session (the sampler's), and a later one starts afresh", async () => {
    const e = parseEnv({ LIBVIRT_URI: TEST_URI });
    const shared = virshSession(e);
    expect(virshSession(e)).toBe(shared);
    expect(await shared.run(["domname", TEST_UUID])).toBe("test");
    const pid = shared.pid!;
    await stopBackgroundServices();
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(childPids()).not.toContain(pid);
    const next = virshSession(e);
    expect(next).not.toBe(shared);
    sessions.push(next);
    expect(await next.run(["domname", TEST_UUID])).toBe("test");
  });
});
