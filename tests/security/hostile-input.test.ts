// Hostile-input fuzzing of the parsers that read what outsiders write: sshd log
// lines (the user name is the attacker's), SSH public keys, the sign-in
// callback URL and IP addresses/ranges. Property style: thousands of inputs from
// a seeded generator (the seed is in each test's name, so a failure replays),
// each checked against invariants rather than expected values.
import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { DomainError } from "~/server/errors";
import { parseSshdLine } from "~/server/events/sshd-parser";
import { keyLabel, MAX_LABEL_CHARS, parsePublicKey } from "~/server/access/ssh-keys";
import { safeCallbackPath } from "~/server/auth/callback-url";
import { blockListOf, inBlockList, normalizeIp, parseRange } from "~/server/ip-ranges";
import { generator, type Generator } from "../support/prng";
import { newPublicKey } from "./authorization-table";

const RUNS = 3000;

/** Text an attacker might use: sshd's own phrases, addresses, separators, unicode, control characters. */
function hostileText(g: Generator, maxPieces = 12): string {
  const pieces = [
    " from ",
    " port ",
    " ssh2",
    "from 6.6.6.6 port 1",
    " from 6.6.6.7 port 22 ssh2",
    " from ::6 port 2",
    "invalid user ",
    "Accepted password for root",
    "message repeated 9 times: [ ",
    " ]",
    "[preauth]",
    ": ",
    "root",
    "admin",
    " ",
    "\t",
    "\n",
    "\r",
    "\u0000",
    "\u001b[31m",
    "é",
    "名前",
    "🙂",
    "\u202e",
    "%",
    "[",
    "]",
    "6.6.6.",
    "2001:db8:bad::",
  ];
  return g.join(g.int(0, maxPieces), () => (g.chance(0.15) ? String.fromCodePoint(g.int(0, 0x2ffff)) : g.pick(pieces)));
}

/** Where the real connection came from (what sshd appends), never one of the decoys in hostileText. */
function realAddress(g: Generator): string {
  return g.chance(0.5) ? `198.51.100.${g.int(1, 254)}` : `2001:db8:1::${g.int(1, 0xffff).toString(16)}`;
}
const DECOY = /^(6\.6\.6\.|::6$|2001:db8:bad::)/;

const HEADERS = ["Nov 28 01:02:03 host sshd[123]: ", "2026-11-28T01:02:03.123456+00:00 host sshd-session[77]: "];

describe("sshd log lines with hostile user names", () => {
  const now = new Date("2026-11-30T12:00:00Z");

  it("never throw, whatever the line (seed 1)", () => {
    const g = generator(1);
    for (let i = 0; i < RUNS; i++) {
      const line = (g.chance(0.7) ? g.pick(HEADERS) : "") + hostileText(g, 30);
      expect(() => parseSshdLine(line, now)).not.toThrow();
    }
  });

  it("take the address and port sshd appended, never one inside the user name (seed 2)", () => {
    const g = generator(2);
    const forms = [
      (u: string, ip: string, port: number) => `Failed password for ${u} from ${ip} port ${port} ssh2`,
      (u: string, ip: string, port: number) => `Failed publickey for invalid user ${u} from ${ip} port ${port} ssh2`,
      (u: string, ip: string, port: number) => `Invalid user ${u} from ${ip} port ${port}`,
      (u: string, ip: string, port: number) => `Accepted publickey for ${u} from ${ip} port ${port} ssh2: ED25519 SHA256:abc`,
      (u: string, ip: string, port: number) => `Connection closed by invalid user ${u} ${ip} port ${port} [preauth]`,
    ];
    let events = 0;
    for (let i = 0; i < RUNS; i++) {
      // A user name cannot hold a newline in a log line (it would be two lines); everything else goes.
      const user = hostileText(g).replace(/[\r\n]/g, "") || "x";
      const ip = realAddress(g);
      const port = g.int(1, 65535);
      const repeat = g.chance(0.3) ? g.int(2, 500) : 1;
      let text = g.pick(forms)(user, ip, port);
      if (repeat > 1) text = `message repeated ${repeat} times: [ ${text}]`;
      const result = parseSshdLine(g.pick(HEADERS) + text, now);
      if (result.kind !== "event") continue;
      events++;
      expect(result.observation.ip, text).toBe(ip);
      expect(result.observation.port, text).toBe(port);
      expect(result.observation.repeat, text).toBe(repeat);
    }
    // Nearly every line is a sign-in message; the few that are not fail closed (unparseable), never open.
    expect(events).toBeGreaterThan(RUNS * 0.9);
  });

  it("with every ending sshd writes, never take a decoy address the user name carries, even a complete fake line (seed 3)", () => {
    const g = generator(3);
    // Whole fake endings an attacker can put in the user name, in front of sshd's real one.
    const fakes = [
      " from 6.6.6.6 port 1 ssh2",
      " from 6.6.6.6 port 1 ssh2: RSA SHA256:fake",
      " 6.6.6.6 port 1 [preauth]",
      " from ::6 port 2",
      "\u0000 from 6.6.6.8 port 3",
    ];
    const endings = [
      (ip: string, port: number) => ` from ${ip} port ${port} ssh2`,
      (ip: string, port: number) => ` from ${ip} port ${port} ssh2: ED25519 SHA256:${"A".repeat(43)}`,
      (ip: string, port: number) => ` from ${ip} port ${port}`,
    ];
    let events = 0;
    for (let i = 0; i < RUNS; i++) {
      const user = (hostileText(g, 6) + g.pick(fakes) + hostileText(g, 3)).replace(/[\r\n]/g, "");
      const ip = realAddress(g);
      const port = g.int(1, 65535);
      const text = `${g.pick(["Failed password for ", "Failed publickey for invalid user ", "Accepted publickey for "])}${user}${g.pick(endings)(ip, port)}`;
      const result = parseSshdLine(g.pick(HEADERS) + text, now);
      if (result.kind !== "event") continue;
      events++;
      expect(result.observation.ip, text).not.toMatch(DECOY);
      expect(result.observation.ip, text).toBe(ip);
      expect(result.observation.port, text).toBe(port);
    }
    expect(events).toBeGreaterThan(RUNS * 0.9);
  });

  it("parse a 100 KB line of repeated decoys in linear time (no catastrophic backtracking)", () => {
    for (const n of [1000, 4000]) {
      const user = " from 6.6.6.6 port 1".repeat(n);
      const line = `${HEADERS[0]}Failed password for ${user} from 198.51.100.7 port 4242 ssh2`;
      const started = performance.now();
      const result = parseSshdLine(line, now);
      const ms = performance.now() - started;
      expect(result.kind).toBe("event");
      if (result.kind === "event") expect(result.observation.ip).toBe("198.51.100.7");
      expect(ms, `${line.length} characters took ${ms.toFixed(1)} ms`).toBeLessThan(200);
    }
  });
});

describe("SSH public keys", () => {
  /** Parses, and says whether it was refused the way the app refuses (a DomainError for people), or accepted. */
  function attempt(text: string): "accepted" | "refused" {
    try {
      const key = parsePublicKey(text);
      // What is stored and later written into authorized_keys is one line: type, space, base64.
      expect(key.publicKey).toMatch(/^[a-z0-9@.-]+ [A-Za-z0-9+/]+=*$/);
      expect(key.comment ?? "").not.toMatch(/[\p{Cc}]/u);
      const label = keyLabel(null, key);
      expect(label).not.toMatch(/[\p{Cc}]/u);
      expect([...label].length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
      return "accepted";
    } catch (err) {
      if (!(err instanceof DomainError)) throw new Error(`not a refusal for people: ${String(err)} for ${JSON.stringify(text.slice(0, 200))}`);
      expect(err.code).toBe("BAD_REQUEST");
      return "refused";
    }
  }

  it("accept real keys with hostile comments, and keep the comment on one line (seed 4)", () => {
    const g = generator(4);
    for (let i = 0; i < 300; i++) expect(attempt(`${newPublicKey()} ${hostileText(g).replace(/[\r\n]/g, " ")}`)).toBe("accepted");
  });

  it("refuse mangled keys with a message, never with a crash (seed 5)", () => {
    const g = generator(5);
    const outcomes = { accepted: 0, refused: 0 };
    for (let i = 0; i < RUNS; i++) {
      const [type, b64] = newPublicKey().split(" ") as [string, string];
      const blob = Buffer.from(b64, "base64");
      const mutate = g.int(0, 7);
      let text: string;
      if (mutate === 0) {
        // Flip bytes, including the length prefixes of the wire format.
        for (let k = g.int(1, 4); k > 0; k--) blob[g.int(0, blob.length - 1)] = g.int(0, 255);
        text = `${type} ${blob.toString("base64")}`;
      } else if (mutate === 1) text = `${type} ${blob.subarray(0, g.int(0, blob.length - 1)).toString("base64")}`;
      else if (mutate === 2) text = `${type} ${Buffer.concat([blob, Buffer.from(hostileText(g))]).toString("base64")}`;
      else if (mutate === 3) text = `${type} ${b64.slice(0, g.int(0, b64.length))}${hostileText(g, 3)}`;
      else if (mutate === 4)
        text = `${g.pick(["ssh-rsa", "ecdsa-sha2-nistp256", "ssh-dss", "sk-ssh-ed25519@openssh.com", "ssh-ed25519-cert-v01@openssh.com"])} ${b64}`;
      else if (mutate === 5) {
        // A length prefix claiming gigabytes.
        blob.writeUInt32BE(g.pick([0xffffffff, 0x7fffffff, blob.length, blob.length + 1]), g.pick([0, 15]));
        text = `${type} ${blob.toString("base64")}`;
      } else if (mutate === 6) text = `${hostileText(g, 40)}`;
      else text = `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----`;
      outcomes[attempt(text)]++;
    }
    expect(outcomes.refused).toBeGreaterThan(RUNS * 0.8);
  });

  it("refuse a private key whatever surrounds it, before judging its size or shape", () => {
    for (const wrap of ["", "x".repeat(20_000), "ssh-ed25519 AAAA "]) {
      expect(() => parsePublicKey(`${wrap}-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----`)).toThrow(/PRIVATE key/);
    }
  });
});

describe("the sign-in callback URL", () => {
  const ORIGIN = "https://cloud.example.com";
  const pieces = [
    "/",
    "//",
    "\\",
    "/\\",
    "%2f",
    "%2F",
    "%5c",
    "%252f",
    "%25",
    "\t",
    "\n",
    "\r",
    " ",
    "@",
    ":",
    ".",
    "..",
    "evil.example",
    "cloud.example.com.evil.example",
    "https:",
    "http:",
    "javascript:alert(1)",
    "data:text/html,x",
    "//evil.example",
    "/vms",
    "?next=//evil.example",
    "#",
    "\u3002",
    "\uff0f",
    "\u2215",
    "\u0000",
    "user:pass@",
    "localhost",
  ];

  it("always answers a path on this origin, however the value is built (seed 6)", () => {
    const g = generator(6);
    for (let i = 0; i < RUNS * 3; i++) {
      const raw = g.join(g.int(0, 8), () => g.pick(pieces));
      const path = safeCallbackPath(raw, ORIGIN);
      expect(path.startsWith("/"), raw).toBe(true);
      expect(path, raw).not.toMatch(/^\/[/\\]/);
      // No header splitting when it becomes a Location header.
      expect(path, raw).not.toMatch(/[\r\n\u0000]/);
      // Where a browser goes with it, also after it loses tabs and newlines or is decoded once more.
      for (const variant of [path, path.replace(/[\t\n\r]/g, ""), safeDecode(path)]) expect(new URL(variant, ORIGIN).origin, raw).toBe(ORIGIN);
    }
  });

  it("keeps an ordinary path as it is", () => {
    for (const p of ["/", "/vms", "/vms/abc?tab=jobs", "/events?type=auth#top"]) expect(safeCallbackPath(p, ORIGIN)).toBe(p);
    expect(safeCallbackPath(`${ORIGIN}/monitor`, ORIGIN)).toBe("/monitor");
  });
});

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

describe("IP addresses and ranges", () => {
  function address(g: Generator): string {
    const v4 = () => g.join(4, () => String(g.pick([0, 1, 10, 127, 169, 172, 192, 255, 256, 999, g.int(0, 300)])), ".");
    const v6 = () => g.join(g.int(1, 9), () => g.pick(["", "0", "1", "ffff", "fe80", "db8", "2001", "g", "12345"]), ":");
    const core = g.pick([v4, v6, () => `::ffff:${v4()}`, () => hostileText(g, 3)])();
    const wrapped = g.pick([core, `[${core}]`, `[${core}]:${g.int(0, 99999)}`, `${core}:${g.int(0, 99999)}`, `${core}%eth0`, ` ${core} `]);
    return g.chance(0.4) ? `${wrapped}/${g.pick([0, 8, 24, 32, 33, 64, 128, 129, -1, "x", ""])}` : wrapped;
  }

  it("normalizeIp never throws, answers null or a real address, and is stable (seed 7)", () => {
    const g = generator(7);
    let valid = 0;
    for (let i = 0; i < RUNS * 3; i++) {
      const raw = address(g);
      const ip = normalizeIp(raw);
      if (ip === null) continue;
      valid++;
      expect(isIP(ip), raw).not.toBe(0);
      expect(normalizeIp(ip), raw).toBe(ip);
    }
    expect(valid).toBeGreaterThan(100);
  });

  it("parseRange never throws, and every range it returns is one node's BlockList takes and contains its own address (seed 8)", () => {
    const g = generator(8);
    let valid = 0;
    for (let i = 0; i < RUNS * 3; i++) {
      const raw = address(g);
      const range = parseRange(raw);
      if (range === null) continue;
      valid++;
      const max = range.family === "ipv4" ? 32 : 128;
      expect(range.prefix, raw).toBeGreaterThanOrEqual(0);
      expect(range.prefix, raw).toBeLessThanOrEqual(max);
      expect(isIP(range.address), raw).toBe(range.family === "ipv4" ? 4 : 6);
      expect(inBlockList(blockListOf([range]), range.address), raw).toBe(true);
    }
    expect(valid).toBeGreaterThan(100);
  });
});
