// One long-lived `virsh -q --connect <URI>` in interactive mode, fed commands
// on its stdin, for the calls the sampler makes on every tick (`domstats`,
// `domname`): one process per app process instead of one per tick. Measured
// with `npm run bench:idle` (stand-in, 180 s, 2 VMs): the session's virsh used
// 0.02 s of CPU where one virsh per call had used 0.86 s, and the app's own
// profile had shown about 10 ms of spawning per process.
//
// How interactive virsh behaves (libvirt 9.0, checked on this host): it prints
// a prompt ("virsh # ") and, as readline does when its input is not a terminal,
// echoes each line it reads to stdout; with -q a command prints exactly what
// `virsh -q <command>` would. Errors go to stderr as `error: ...` lines and no
// exit status is left per command. So every command is followed by
// `echo <marker>` (its output ends stdout's part) and `echo --err <marker>`
// (printed as `error: <marker>` on stderr, which ends stderr's part); an
// `error:` line before that marker fails the command. Both are virsh built-ins
// that need no connection.
//
// When libvirtd goes away, the next command fails with "Failed to reconnect to
// the hypervisor" and a later one reconnects by itself once the daemon is back.
// When the first connection fails, virsh exits: that command fails with its
// error and the next command starts a new virsh. A command that does not finish
// within its timeout (a hung libvirtd) kills the process; the next starts anew.
//
// The child never outlives the app: close() ends it at shutdown, and if the app
// dies, its end of the stdin pipe closes and virsh exits on end of input.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { childEnv } from "../child-env";
import { env, type Env } from "../env";
import { VIRSH_TIMEOUT_MS, type RunVirsh } from "./virsh";

export interface VirshSession {
  /** Runs one virsh command (one at a time, in call order); resolves with its stdout (less a final newline), rejects with its `error:` lines. */
  run: RunVirsh;
  /** Ends the virsh process; commands after this reject. */
  close(): Promise<void>;
  /** The current virsh process, if one is running (for tests and diagnostics). */
  readonly pid: number | null;
}

export interface VirshSessionOptions {
  bin: string;
  uri: string;
  timeoutMs?: number;
}

/** What a failed command rejects with: `stderr` holds virsh's own lines, as execa's errors do (see commandFailure). */
export class VirshCommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly timedOut = false,
    readonly shortMessage = message,
  ) {
    super(message);
    this.name = "VirshCommandError";
  }
}

/** One argument as virsh's own command parser reads it: bare when plain, else single-quoted ('\'' for a quote). */
function quoteArg(arg: string): string {
  if (/[\0\r\n]/.test(arg)) throw new VirshCommandError(`virsh argument with a line break: ${JSON.stringify(arg)}`, "");
  return /^[A-Za-z0-9_.,:/=@+%-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The running virsh process and what it has printed that no command has taken yet. */
class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  out = "";
  err = "";
  /** Learned from the start marker: the text printed before each echoed input line ("" if virsh echoes nothing). */
  prompt: string | null = null;
  exited: string | null = null;
  killed = false;
  lastMarker = "";
  waiter: (() => void) | null = null;

  constructor(
    opts: VirshSessionOptions,
    readonly startMarker: string,
  ) {
    this.proc = spawn(opts.bin, ["-q", "--connect", opts.uri], { env: childEnv({ LC_ALL: "C" }) as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
    // The session must not keep a script alive by itself: a command in flight holds its timeout timer, which does.
    this.proc.unref();
    for (const s of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.proc.stdout.setEncoding("utf8").on("data", (d: string) => ((this.out += d), this.waiter?.()));
    this.proc.stderr.setEncoding("utf8").on("data", (d: string) => ((this.err += d), this.waiter?.()));
    this.proc.stdin.on("error", () => {}); // EPIPE after virsh exited: the exit handler reports it
    this.proc.on("error", (error) => ((this.exited = `could not start ${opts.bin}: ${error.message}`), this.waiter?.()));
    this.proc.on("close", (code, signal) => ((this.exited ??= `virsh exited (${signal ?? `code ${code}`})`), this.waiter?.()));
    this.proc.stdin.write(`echo ${startMarker}\necho --err ${startMarker}\n`);
  }

  /** Where stdout shows the marker's output (not the echo of the line that asked for it); -1 if not yet. */
  private stdoutMarker(marker: string): number {
    for (let at = this.out.indexOf(marker); at !== -1; at = this.out.indexOf(marker, at + 1)) if (!this.out.endsWith("echo ", at)) return at;
    return -1;
  }

  /**
   * Takes what one command printed, once both its markers have arrived: its stdout (without the prompts and echoed
   * input lines around it) and its stderr. Null while they have not.
   */
  take(marker: string, line: string | null): { stdout: string; stderr: string } | null {
    const outAt = this.stdoutMarker(marker);
    const errEnd = `error: ${marker}\n`;
    const errAt = this.err.indexOf(errEnd);
    if (outAt === -1 || errAt === -1) return null;
    let stdout = this.out.slice(0, outAt);
    const stderr = this.err.slice(0, errAt);
    this.out = this.out.slice(outAt + marker.length);
    this.err = this.err.slice(errAt + errEnd.length);
    const previous = this.lastMarker;
    this.lastMarker = marker;
    if (line === null) {
      // The start: "<prompt>echo <marker>\n<marker>" tells what the prompt is.
      const echoed = stdout.lastIndexOf(`echo ${marker}\n`);
      this.prompt = echoed === -1 ? "" : stdout.slice(0, echoed);
      return { stdout: "", stderr };
    }
    const p = this.prompt ?? "";
    // Before the output: the rest of the previous markers' lines, then this command's own line, as virsh echoed them.
    const head = `${p}echo --err ${previous}\n${p}${line}\n`;
    if (stdout.startsWith(head)) stdout = stdout.slice(head.length);
    const tail = `${p}echo ${marker}\n`;
    if (stdout.endsWith(tail)) stdout = stdout.slice(0, -tail.length);
    return { stdout, stderr };
  }

  /** Whatever virsh printed on stderr between commands (a dropped connection's notice) belongs to no command. */
  dropIdleStderr(): void {
    this.err = "";
  }

  get gone(): boolean {
    return this.exited !== null || this.killed;
  }

  kill(): void {
    this.killed = true;
    if (this.exited === null) this.proc.kill("SIGKILL");
  }
}

const errorLines = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("error:"))
    .join("\n");

export function createVirshSession(opts: VirshSessionOptions): VirshSession {
  const timeoutMs = opts.timeoutMs ?? VIRSH_TIMEOUT_MS;
  const token = randomBytes(6).toString("hex");
  let counter = 0;
  let child: Child | null = null;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  /** Waits until `done` returns non-null, the child exits, or the deadline passes. */
  function waitFor<T>(c: Child, done: () => T | null, deadline: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        c.waiter = null;
        c.kill();
        reject(new VirshCommandError(`virsh timed out after ${timeoutMs} ms`, "", true, `timed out after ${timeoutMs} ms`));
      }, deadline - Date.now());
      c.waiter = () => {
        const result = done();
        if (result === null && c.exited === null) return;
        c.waiter = null;
        clearTimeout(timer);
        if (result !== null) resolve(result);
        else {
          const lines = errorLines(c.err) || c.err.trim();
          reject(new VirshCommandError(lines ? `${c.exited}: ${lines}` : c.exited!, lines));
        }
      };
      c.waiter();
    });
  }

  async function execute(args: string[]): Promise<string> {
    if (closed) throw new VirshCommandError("the virsh session is closed", "");
    const line = args.map(quoteArg).join(" ");
    const deadline = Date.now() + timeoutMs;
    if (child?.gone) child = null;
    if (!child) {
      const c = new Child(opts, `__twarga_${token}_start_${++counter}__`);
      child = c;
      try {
        await waitFor(c, () => c.take(c.startMarker, null), deadline);
      } catch (error) {
        if (child === c) child = null;
        throw error;
      }
    }
    const c = child;
    const marker = `__twarga_${token}_${++counter}__`;
    c.dropIdleStderr();
    c.proc.stdin.write(`${line}\necho ${marker}\necho --err ${marker}\n`);
    try {
      const { stdout, stderr } = await waitFor(c, () => c.take(marker, line), deadline);
      const failed = errorLines(stderr);
      if (failed) throw new VirshCommandError(`virsh ${line}: ${failed}`, failed);
      return stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout; // as runVirsh (execa) returns it
    } finally {
      if (c.gone && child === c) child = null;
    }
  }

  return {
    run(args) {
      const result = queue.then(() => execute(args));
      queue = result.catch(() => {});
      return result;
    },
    async close() {
      closed = true;
      const c = child;
      child = null;
      if (!c || c.gone) return;
      const gone = new Promise<void>((resolve) => c.proc.once("close", () => resolve()));
      c.proc.stdin.end(); // virsh leaves on end of input
      const timer = setTimeout(() => c.kill(), 2000);
      await gone;
      clearTimeout(timer);
    },
    get pid() {
      return child && !child.gone ? (child.proc.pid ?? null) : null;
    },
  };
}

// One session per virsh binary and URI in this process, kept on globalThis so that a reloaded module reuses it.
const globalForSessions = globalThis as unknown as { twargaVirshSessions?: Map<string, VirshSession> };
const sessions = (globalForSessions.twargaVirshSessions ??= new Map());

/** This process's session for the configured virsh and libvirt URI. */
export function virshSession(e: Env = env()): VirshSession {
  const key = `${e.VIRSH_BIN}\0${e.LIBVIRT_URI}`;
  let session = sessions.get(key);
  if (!session) sessions.set(key, (session = createVirshSession({ bin: e.VIRSH_BIN, uri: e.LIBVIRT_URI })));
  return session;
}

/** Ends every session of this process (the shutdown drain calls it after the background services stopped). */
export async function closeVirshSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map((s) => s.close()));
}
