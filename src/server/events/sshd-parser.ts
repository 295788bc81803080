// Parses Debian OpenSSH lines from the auth log into sign-in observations.
// Two header styles occur on Debian hosts: the classic syslog one
// ("Nov 28 01:02:03 host sshd[123]: …", local time, no year) and rsyslog's
// ISO 8601 one ("2026-11-28T01:02:03.123456+00:00 host sshd[123]: …", the
// default since Debian 12). OpenSSH 9.8+ logs from "sshd-session" instead of
// "sshd"; both are accepted.

export type SshdAction = "ssh.failed" | "ssh.invalid_user" | "ssh.accepted" | "ssh.preauth_closed";

export interface SshdObservation {
  at: Date;
  host: string;
  pid: number | null;
  action: SshdAction;
  user: string;
  ip: string;
  port: number;
  /** "password" or "publickey" (also "keyboard-interactive/pam", "none") where the line names one. */
  method: string | null;
  invalidUser: boolean;
  /** Key type and fingerprint of an accepted public key, when logged. */
  key: string | null;
  /** How many attempts the line stands for: rsyslog folds repeats into "message repeated N times: [ … ]". */
  repeat: number;
  line: string;
}

/**
 * `event`: a line we turn into an event. `ignored`: a well-formed log line that
 * is not an sshd sign-in message (cron, sudo, sshd session chatter).
 * `unparseable`: not a syslog line at all; counted by the follower.
 */
export type ParseResult = { kind: "event"; observation: SshdObservation } | { kind: "ignored" } | { kind: "unparseable" };

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const CLASSIC = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\S+) (\S+?)(?:\[(\d+)\])?: (.*)$/;
const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))\s+(\S+) (\S+?)(?:\[(\d+)\])?: (.*)$/;

// An address is IPv4 or IPv6 (hex, colons, optional embedded IPv4, optional zone).
const IP = "([0-9A-Fa-f:.]+(?:%[\\w.-]+)?)";
// The user name is the attacker's text, logged verbatim: it may contain spaces
// and even " from 6.6.6.6 port 1". Greedy, so the address is the last
// " from <ip> port <n>" on the line, the one sshd itself appended.
const USER = "(.*)";
const REPEATED = /^message repeated (\d+) times: \[ ?(.*?) ?\]$/;
const MESSAGES: {
  re: RegExp;
  action: SshdAction;
  build: (m: RegExpMatchArray) => Omit<SshdObservation, "at" | "host" | "pid" | "line" | "action" | "repeat">;
}[] = [
  {
    re: new RegExp(`^Failed (\\S+) for (invalid user )?${USER} from ${IP} port (\\d+)(?: ssh2)?(?:: (.*))?$`),
    action: "ssh.failed",
    build: (m) => ({ method: m[1]!, invalidUser: Boolean(m[2]), user: m[3]!, ip: m[4]!, port: Number(m[5]), key: m[6] ?? null }),
  },
  {
    re: new RegExp(`^Invalid user ${USER} from ${IP}(?: port (\\d+))?$`),
    action: "ssh.invalid_user",
    build: (m) => ({ method: null, invalidUser: true, user: m[1]!, ip: m[2]!, port: Number(m[3] ?? 0), key: null }),
  },
  {
    re: new RegExp(`^Accepted (\\S+) for ${USER} from ${IP} port (\\d+)(?: ssh2)?(?:: (.*))?$`),
    action: "ssh.accepted",
    build: (m) => ({ method: m[1]!, invalidUser: false, user: m[2]!, ip: m[3]!, port: Number(m[4]), key: m[5] ?? null }),
  },
  {
    re: new RegExp(`^Connection closed by (invalid|authenticating) user ${USER} ${IP} port (\\d+)(?: \\[preauth\\])?$`),
    action: "ssh.preauth_closed",
    build: (m) => ({ method: null, invalidUser: m[1] === "invalid", user: m[2]!, ip: m[3]!, port: Number(m[4]), key: null }),
  },
];

const SIGN_IN_PREFIX = /^(Failed \S+ for |Accepted \S+ for |Invalid user |Connection closed by (authenticating|invalid) user )/;

const SSHD_PROGRAMS = new Set(["sshd", "sshd-session"]);

function isIp(candidate: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(candidate)) return candidate.split(".").every((o) => Number(o) <= 255);
  return candidate.includes(":") && /^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(candidate);
}

/**
 * Classic syslog lines carry no year: take the year of `now`, and the previous
 * one when that would put the line more than a day in the future (a December
 * line read in January).
 */
function classicDate(month: string, day: string, hh: string, mm: string, ss: string, now: Date): Date | null {
  const mon = MONTHS.indexOf(month);
  if (mon < 0) return null;
  let at = new Date(now.getFullYear(), mon, Number(day), Number(hh), Number(mm), Number(ss));
  if (at.getTime() - now.getTime() > 86_400_000) at = new Date(now.getFullYear() - 1, mon, Number(day), Number(hh), Number(mm), Number(ss));
  return Number.isNaN(at.getTime()) ? null : at;
}

export function parseSshdLine(raw: string, now: Date = new Date()): ParseResult {
  const line = raw.replace(/\r$/, "");
  let at: Date | null;
  let host: string, program: string, pid: string | undefined, text: string;
  const iso = ISO.exec(line);
  if (iso) {
    at = new Date(iso[1]!);
    [host, program, pid, text] = [iso[2]!, iso[3]!, iso[4], iso[5]!];
  } else {
    const classic = CLASSIC.exec(line);
    if (!classic) return { kind: "unparseable" };
    at = classicDate(classic[1]!, classic[2]!, classic[3]!, classic[4]!, classic[5]!, now);
    [host, program, pid, text] = [classic[6]!, classic[7]!, classic[8], classic[9]!];
  }
  if (!at || Number.isNaN(at.getTime())) return { kind: "unparseable" };
  if (!SSHD_PROGRAMS.has(program)) return { kind: "ignored" };
  let repeat = 1;
  const repeated = REPEATED.exec(text);
  if (repeated) {
    repeat = Number(repeated[1]);
    text = repeated[2]!;
  }
  for (const message of MESSAGES) {
    const m = text.match(message.re);
    if (!m) continue;
    const fields = message.build(m);
    if (!isIp(fields.ip)) return { kind: "unparseable" };
    return { kind: "event", observation: { at, host, pid: pid ? Number(pid) : null, action: message.action, line, ...fields, repeat } };
  }
  // A sign-in message we should understand but cannot is worth counting.
  return SIGN_IN_PREFIX.test(text) ? { kind: "unparseable" } : { kind: "ignored" };
}

/** The feed's wording and severity for an observation. */
export function describeSshd(o: SshdObservation): { message: string; severity: "INFO" | "WARNING" } {
  const who = o.invalidUser ? `invalid user "${o.user}"` : `"${o.user}"`;
  switch (o.action) {
    case "ssh.failed":
      return { message: `SSH: failed ${o.method ?? "sign-in"} for ${who} from ${o.ip}`, severity: "WARNING" };
    case "ssh.invalid_user":
      return { message: `SSH: invalid user "${o.user}" from ${o.ip}`, severity: "WARNING" };
    case "ssh.accepted":
      return { message: `SSH: accepted ${o.method ?? "sign-in"} for "${o.user}" from ${o.ip}`, severity: "INFO" };
    case "ssh.preauth_closed":
      return { message: `SSH: connection closed by ${who} from ${o.ip} before authentication`, severity: "INFO" };
  }
}
