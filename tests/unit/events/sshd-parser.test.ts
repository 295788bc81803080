import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseSshdLine, type SshdObservation } from "~/server/events/sshd-parser";

const corpus = readFileSync(path.join(import.meta.dirname, "sshd-corpus.log"), "utf8")
  .split("\n")
  .filter(Boolean);
const now = new Date(2026, 10, 28, 12, 0, 0); // 28 Nov 2026, local time like syslog

function observation(line: string): SshdObservation {
  const r = parseSshdLine(line, now);
  if (r.kind !== "event") throw new Error(`expected an event for: ${line} (got ${r.kind})`);
  return r.observation;
}

describe("sshd log parser on a Debian OpenSSH corpus", () => {
  it("classifies every corpus line", () => {
    const kinds = corpus.map((l) => parseSshdLine(l, now).kind);
    expect(kinds).toEqual([
      ...Array(13).fill("event"),
      "ignored", // pam session chatter from sshd
      "ignored", // Received disconnect
      "ignored", // CRON
      "ignored", // sudo (no pid)
      "unparseable", // not syslog
      "unparseable", // bad month
      "unparseable", // sign-in message without an address
    ]);
  });

  it("takes the address sshd appended, not one an attacker put in the user name", () => {
    const o = observation(corpus[11]!);
    expect(o.ip).toBe("203.0.113.77");
    expect(o.port).toBe(51514);
    expect(o.user).toBe("x from 6.6.6.6 port 1: y");
    expect(o.invalidUser).toBe(true);
  });

  it("counts rsyslog's folded repeats as that many attempts", () => {
    const o = observation(corpus[12]!);
    expect(o).toMatchObject({ action: "ssh.failed", user: "root", ip: "198.51.100.23", port: 40022, repeat: 4 });
    expect(observation(corpus[0]!).repeat).toBe(1);
  });

  it("reads failed passwords for valid and invalid users", () => {
    const a = observation(corpus[0]!);
    expect(a).toMatchObject({
      action: "ssh.failed",
      user: "root",
      ip: "203.0.113.5",
      port: 51234,
      method: "password",
      invalidUser: false,
      host: "bastion",
      pid: 4121,
    });
    expect(a.at).toEqual(new Date(2026, 10, 28, 1, 2, 3));
    expect(observation(corpus[1]!)).toMatchObject({ action: "ssh.failed", user: "admin", invalidUser: true, port: 51240 });
  });

  it("reads invalid users, with single-digit day padding", () => {
    const o = observation(corpus[2]!);
    expect(o).toMatchObject({ action: "ssh.invalid_user", user: "oracle", ip: "198.51.100.7", port: 40022 });
    expect(o.at).toEqual(new Date(2026, 10, 3, 7, 0, 1));
  });

  it("reads accepted public keys over IPv6 with the key fingerprint", () => {
    expect(observation(corpus[3]!)).toMatchObject({
      action: "ssh.accepted",
      user: "alice",
      ip: "2001:db8::1f",
      method: "publickey",
      key: expect.stringContaining("ED25519 SHA256:"),
    });
    expect(observation(corpus[4]!)).toMatchObject({ action: "ssh.accepted", user: "bob", method: "password", ip: "192.0.2.44" });
  });

  it("reads preauth closes by authenticating and invalid users", () => {
    expect(observation(corpus[5]!)).toMatchObject({ action: "ssh.preauth_closed", user: "root", ip: "203.0.113.9", port: 38812, invalidUser: false });
    expect(observation(corpus[6]!)).toMatchObject({ action: "ssh.preauth_closed", user: "test", invalidUser: true });
  });

  it("reads ISO 8601 rsyslog timestamps with offsets and sshd-session", () => {
    const a = observation(corpus[7]!);
    expect(a.at.toISOString()).toBe("2026-11-28T01:05:06.123Z");
    expect(a.ip).toBe("2001:db8:85a3::8a2e:370:7334");
    const b = observation(corpus[8]!);
    expect(b.at.toISOString()).toBe("2026-11-28T00:05:07.000Z");
    expect(b).toMatchObject({ action: "ssh.invalid_user", user: "git", ip: "::ffff:192.0.2.10", port: 1022 });
    expect(observation(corpus[9]!)).toMatchObject({ action: "ssh.failed", method: "publickey", ip: "fe80::1%eth0", user: "deploy" });
    expect(observation(corpus[10]!)).toMatchObject({ action: "ssh.accepted", method: "keyboard-interactive/pam", user: "carol" });
  });

  it("reads journalctl -o short-iso lines (hosts without rsyslog can feed a file with it)", () => {
    const o = observation("2026-11-28T01:02:03+0000 bastion sshd[77]: Failed password for invalid user pi from 192.0.2.200 port 4242 ssh2");
    expect(o.at.toISOString()).toBe("2026-11-28T01:02:03.000Z");
    expect(o).toMatchObject({ user: "pi", invalidUser: true, ip: "192.0.2.200" });
  });

  it("puts a December line read in January into the previous year", () => {
    const o = parseSshdLine("Dec 31 23:59:59 h sshd[1]: Invalid user x from 192.0.2.1 port 1", new Date(2027, 0, 1, 0, 0, 5));
    expect(o.kind === "event" && o.observation.at).toEqual(new Date(2026, 11, 31, 23, 59, 59));
  });

  it("keeps user names with spaces and rejects impossible IPv4", () => {
    expect(observation("Nov 28 01:02:03 h sshd[1]: Invalid user a b from 192.0.2.1 port 7").user).toBe("a b");
    expect(parseSshdLine("Nov 28 01:02:03 h sshd[1]: Invalid user a from 999.0.2.1 port 7", now).kind).toBe("unparseable");
  });
});
