// The one parser for Vagrant's output: `--machine-readable` lines
// (`timestamp,target,type,data...`) and `vagrant ssh-config`.
// Inside data fields Vagrant writes a comma as `%!(VAGRANT_COMMA)` and a
// newline as a literal backslash-n. A failing provider (vagrant-libvirt) may
// print no `error-exit` line at all: only a Ruby stack trace on stderr and a
// non-zero exit code, so a result is judged on the exit code first.

export interface MachineReadableLine {
  timestamp: number;
  /** The machine name ("default"), or "" for lines about the whole run. */
  target: string;
  type: string;
  data: string[];
}

const LINE = /^(\d+),([^,]*),([^,]+),?(.*)$/;

/** Restores the characters Vagrant escapes inside a data field. */
export function decodeField(raw: string): string {
  return raw.replaceAll("%!(VAGRANT_COMMA)", ",").replaceAll("\\n", "\n").replaceAll("\\r", "\r");
}

/** One line of machine-readable output, or null for anything else (stack traces, stray text). */
export function parseMachineReadableLine(line: string): MachineReadableLine | null {
  const m = LINE.exec(line.replace(/\r$/, ""));
  if (!m) return null;
  const [, ts, target, type, rest] = m as unknown as [string, string, string, string, string];
  return { timestamp: Number(ts), target, type, data: rest === "" ? [] : rest.split(",").map(decodeField) };
}

export interface ParsedOutput {
  records: MachineReadableLine[];
  /** Lines that are not machine-readable records, in order (e.g. a stack trace). */
  otherLines: string[];
}

export function parseMachineReadable(text: string): ParsedOutput {
  const records: MachineReadableLine[] = [];
  const otherLines: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const record = parseMachineReadableLine(line);
    if (record) records.push(record);
    else otherLines.push(line);
  }
  return { records, otherLines };
}

/** The text a person would have seen for a record, or null for records that are bookkeeping. */
export function humanText(record: MachineReadableLine): string | null {
  if (record.type === "ui") return record.data.slice(1).join(",");
  if (record.type === "error-exit") return `Error: ${record.data.slice(1).join(",")}`;
  return null;
}

export interface CommandOutcome {
  ok: boolean;
  /** For a failure: the reason in one line, for the VM's error field. */
  error: string | null;
}

/**
 * Judges a finished command. Success needs exit code 0. The message comes from
 * an `error-exit` record when Vagrant printed one, otherwise from the first
 * line of the Ruby stack trace on stderr (`file:line:in `m': MESSAGE (Class)`).
 */
export function commandOutcome(result: { exitCode: number | null; stdout: string; stderr: string; signal?: string | null }): CommandOutcome {
  if (result.exitCode === 0) return { ok: true, error: null };
  const all = parseMachineReadable(`${result.stdout}\n${result.stderr}`);
  const errorExit = all.records.find((r) => r.type === "error-exit");
  if (errorExit) return { ok: false, error: errorExit.data.slice(1).join(",").trim() || (errorExit.data[0] ?? "vagrant failed") };
  const firstStderr = result.stderr.split("\n").find((l) => l.trim() !== "") ?? all.otherLines[0];
  if (firstStderr) {
    const trace = /^\S+:\d+:in `[^']*': (.*)$/.exec(firstStderr.trim());
    return { ok: false, error: (trace ? trace[1]! : firstStderr.trim()).slice(0, 1000) };
  }
  if (result.signal) return { ok: false, error: `vagrant was killed by ${result.signal}` };
  return { ok: false, error: `vagrant exited with code ${result.exitCode ?? "unknown"}` };
}

export interface MachineStatus {
  /** Vagrant's state name: running, shutoff, not_created, paused, ... */
  state: string;
  short: string | null;
  long: string | null;
  provider: string | null;
}

/** The state of the `default` machine from `vagrant status --machine-readable`, or null if absent. */
export function parseStatus(text: string): MachineStatus | null {
  const { records } = parseMachineReadable(text);
  const of = (type: string) => records.find((r) => r.target !== "" && r.type === type)?.data.join(",") ?? null;
  const state = of("state");
  if (!state) return null;
  return { state, short: of("state-human-short"), long: of("state-human-long"), provider: of("provider-name") };
}

export interface SshConfig {
  host: string;
  hostName: string;
  user: string;
  port: number;
  identityFile: string | null;
}

/** The first Host block of `vagrant ssh-config`, or null when it lacks an address. */
export function parseSshConfig(text: string): SshConfig | null {
  const fields = new Map<string, string>();
  let host: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.replace(/^"(.*)"$/, "$1");
    if (key === "host") {
      if (host !== null) break; // only the first block
      host = value;
      continue;
    }
    if (!fields.has(key)) fields.set(key, value);
  }
  const hostName = fields.get("hostname");
  if (host === null || !hostName) return null;
  const port = Number(fields.get("port") ?? "22");
  return { host, hostName, user: fields.get("user") ?? "vagrant", port: Number.isInteger(port) ? port : 22, identityFile: fields.get("identityfile") ?? null };
}
