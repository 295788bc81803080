import { appendFileSync, mkdtempSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SshdLogFollower, followerStatus } from "~/server/events/sshd-follower";
import { createTestDb, type TestDb } from "../../support/db";

let t: TestDb;
let dir: string;
let log: string;
let n = 0;

/** A distinct failed-password line; the port tells lines apart. */
const line = () => `2026-11-28T01:00:00.000000+00:00 bastion sshd[10]: Failed password for root from 203.0.113.5 port ${++n} ssh2\n`;
const lines = (count: number) => Array.from({ length: count }, line).join("");
const recordedPorts = async () =>
  (await t.db.event.findMany({ where: { type: "ssh" }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] }))
    .map((e) => (e.details as { port: number }).port)
    .sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeEach(async () => {
  t = await createTestDb();
  dir = mkdtempSync(path.join(tmpdir(), "sshd-log-"));
  log = path.join(dir, "auth.log");
  n = 0;
});
afterEach(() => t.close());

describe("sshd log follower", () => {
  it("starts at the end on its first run, then reads appended lines once", async () => {
    writeFileSync(log, lines(3));
    const f = new SshdLogFollower(t.db, log);
    expect((await f.poll()).events).toBe(0);
    appendFileSync(log, lines(2));
    expect((await f.poll()).events).toBe(2);
    expect((await f.poll()).events).toBe(0);
    expect(await recordedPorts()).toEqual([4, 5]);
    const e = await t.db.event.findFirstOrThrow({ where: { type: "ssh" } });
    expect(e).toMatchObject({ action: "ssh.failed", sourceIp: "203.0.113.5", severity: "WARNING" });
    expect(e.createdAt.toISOString()).toBe("2026-11-28T01:00:00.000Z");
  });

  it("records a line rsyslog folded ('message repeated 4 times') as four failed attempts", async () => {
    writeFileSync(log, "");
    const f = new SshdLogFollower(t.db, log);
    await f.poll();
    appendFileSync(
      log,
      "2026-11-28T01:00:00.000000+00:00 bastion sshd[10]: message repeated 4 times: [ Failed password for root from 198.51.100.9 port 2222 ssh2]\n",
    );
    await f.poll();
    const events = await t.db.event.findMany({ where: { type: "ssh", action: "ssh.failed", sourceIp: "198.51.100.9" } });
    expect(events).toHaveLength(4);
    expect(events.map((e) => (e.details as { attempt: number }).attempt).sort()).toEqual([1, 2, 3, 4]);
  });

  it("waits for a half-written line to be finished", async () => {
    writeFileSync(log, "");
    const f = new SshdLogFollower(t.db, log);
    await f.poll();
    const whole = line();
    appendFileSync(log, whole.slice(0, 30));
    expect((await f.poll()).lines).toBe(0);
    appendFileSync(log, whole.slice(30));
    expect((await f.poll()).events).toBe(1);
  });

  it("continues where it stopped after a restart (position kept in the database)", async () => {
    writeFileSync(log, "");
    await new SshdLogFollower(t.db, log).poll();
    appendFileSync(log, lines(3));
    await new SshdLogFollower(t.db, log).poll();
    appendFileSync(log, lines(2));
    const restarted = new SshdLogFollower(t.db, log);
    expect((await restarted.poll()).events).toBe(2);
    expect(await recordedPorts()).toEqual(range(1, 5));
  });

  it("reads the rest of the rotated file, then the new file from its start", async () => {
    writeFileSync(log, "");
    const f = new SshdLogFollower(t.db, log);
    await f.poll();
    appendFileSync(log, lines(2));
    await f.poll();
    appendFileSync(log, lines(3)); // written before rotation, not yet read
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, line().trimEnd()); // the writer's last line, still without newline when it switched
    await f.poll(); // the new file is not there yet: drain the old one
    writeFileSync(log, lines(2));
    await f.poll();
    appendFileSync(log, lines(1));
    // a restart after rotation continues in the new file
    await new SshdLogFollower(t.db, log).poll();
    expect(await recordedPorts()).toEqual(range(1, 9));
  });

  it("handles rename and new file between two polls", async () => {
    writeFileSync(log, "");
    const f = new SshdLogFollower(t.db, log);
    await f.poll();
    appendFileSync(log, lines(2));
    renameSync(log, `${log}.1`);
    writeFileSync(log, lines(2));
    await f.poll();
    expect(await recordedPorts()).toEqual(range(1, 4));
  });

  it("starts again from 0 when the file is truncated", async () => {
    writeFileSync(log, "");
    const f = new SshdLogFollower(t.db, log);
    await f.poll();
    appendFileSync(log, lines(4));
    await f.poll();
    truncateSync(log, 0);
    appendFileSync(log, lines(2));
    await f.poll();
    expect(await recordedPorts()).toEqual(range(1, 6));
  });

  it("skips and counts unparseable lines without stopping", async () => {
    writeFileSync(log, "");
    const f = new SshdLogFollower(t.db, log);
    await f.poll();
    appendFileSync(log, `garbage\n${line()}Nov 28 01:00:00 h CRON[1]: ok\n\u0000\u0001binary\n${line()}`);
    const stats = await f.poll();
    expect(stats).toEqual({ lines: 5, events: 2, ignored: 1, unparseable: 2 });
    expect((await followerStatus(t.db, log))?.unparseable).toBe(2);
  });

  it("does nothing while the file does not exist", async () => {
    const f = new SshdLogFollower(t.db, log);
    expect(await f.poll()).toEqual({ lines: 0, events: 0, ignored: 0, unparseable: 0 });
    writeFileSync(log, lines(2));
    await f.poll(); // first sight: from the end
    appendFileSync(log, lines(1));
    expect((await f.poll()).events).toBe(1);
  });
});
