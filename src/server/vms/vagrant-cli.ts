// Runs the `vagrant` CLI: execa with an argument array (never a shell), cwd =
// the VM's folder (VAGRANT_HOME for `box list`), and the environment of
// vagrantEnv() below: the allowlist of child-env.ts plus Vagrant's own
// settings, none of the app's secrets. Lines are handed to the caller as they
// arrive. A time limit ends the process tree: vagrant runs in its own process
// group, so one signal to the group reaches every child that stayed in it (a
// guest's QEMU is libvirtd's child, not vagrant's, and is not signalled).
//
// A job's commands write their output to files in the VM's folder (outputFile)
// rather than to pipes: a pipe whose reading end died with the app would end
// Vagrant at its next line (SIGPIPE or EPIPE), half-way through creating a
// domain. With files it runs to its end whatever happens to the app, and
// whoever recovers the job waits for it (orphans.ts).
import { execa } from "execa";
import { createInterface } from "node:readline";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { env, type Env } from "../env";
import { childEnv } from "../child-env";
import { vagrantHome } from "../folders";

export interface VagrantRun {
  args: string[];
  cwd: string;
  /** Kill the process tree after this long; null for no limit. */
  timeoutMs: number | null;
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Aborting kills the process tree too (app shutting down). */
  signal?: AbortSignal;
  /** Write stdout and stderr to `<outputFile>.stdout` and `.stderr` (truncated first) instead of pipes; lines still reach onLine. */
  outputFile?: string;
  /** Called with the PID (also the process group id) as soon as the process exists. */
  onSpawn?: (pid: number) => void;
}

export interface VagrantResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

/** Between SIGTERM to the process group and SIGKILL. */
const KILL_GRACE_MS = 5_000;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Vagrant's whole environment: the allowlist of childEnv (never the app's
 * secrets) and Vagrant's settings. extendEnv: false below keeps execa from
 * merging process.env back in.
 */
export function vagrantEnv(e: Env = env()): Record<string, string> {
  return childEnv({ VAGRANT_HOME: vagrantHome(e), VAGRANT_CHECKPOINT_DISABLE: "1", VAGRANT_NO_COLOR: "1", LIBVIRT_DEFAULT_URI: e.LIBVIRT_URI });
}

/** How often a job's output files are read for new lines. */
const TAIL_MS = 200;

/** Reads a growing file from where it last stopped and hands over whole lines. */
class FileLines {
  private offset = 0;
  private partial = "";
  private readonly decoder = new StringDecoder("utf8");
  private reading: Promise<void> = Promise.resolve();
  text = "";

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Reads what was added since the last call; `final` also hands over a last line without its newline. */
  read(final = false): Promise<void> {
    this.reading = this.reading.then(async () => {
      const handle = await open(this.file, "r").catch(() => null);
      if (!handle) return;
      try {
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
          if (bytesRead === 0) break;
          this.offset += bytesRead;
          this.emit(this.decoder.write(buffer.subarray(0, bytesRead)));
        }
      } finally {
        await handle.close();
      }
      if (final) {
        this.emit(this.decoder.end());
        if (this.partial !== "") this.emit("\n");
      }
    });
    return this.reading;
  }

  private emit(chunk: string): void {
    this.text += chunk;
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  }
}

export async function runVagrant(run: VagrantRun, e: Env = env()): Promise<VagrantResult> {
  let files: { stdout: FileLines; stderr: FileLines } | null = null;
  let fds: number[] = [];
  if (run.outputFile) {
    mkdirSync(path.dirname(run.outputFile), { recursive: true, mode: 0o700 });
    fds = [openSync(`${run.outputFile}.stdout`, "w", 0o600), openSync(`${run.outputFile}.stderr`, "w", 0o600)];
    files = {
      stdout: new FileLines(`${run.outputFile}.stdout`, (l) => run.onLine?.(l, "stdout")),
      stderr: new FileLines(`${run.outputFile}.stderr`, (l) => run.onLine?.(l, "stderr")),
    };
  }
  const child = execa(e.VAGRANT_BIN, run.args, {
    cwd: run.cwd,
    env: vagrantEnv(e),
    extendEnv: false,
    reject: false,
    detached: true,
    stdin: "ignore",
    // A file descriptor for execa is an output it does not collect: result.stdout stays empty, FileLines has the text.
    stdout: (fds[0] ?? "pipe") as "pipe",
    stderr: (fds[1] ?? "pipe") as "pipe",
    stripFinalNewline: false,
  });
  let timedOut = false;
  let aborted = false;
  const pid = child.pid;
  if (pid !== undefined) run.onSpawn?.(pid);
  const killTree = () => {
    if (pid === undefined) return;
    killGroup(pid, "SIGTERM");
    setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS).unref();
  };
  const timer = run.timeoutMs === null ? null : setTimeout(() => ((timedOut = true), killTree()), run.timeoutMs);
  const onAbort = () => ((aborted = true), killTree());
  run.signal?.addEventListener("abort", onAbort, { once: true });
  if (run.signal?.aborted) onAbort();

  const readers: Promise<void>[] = [];
  let tailing: NodeJS.Timeout | null = null;
  if (files) {
    const { stdout, stderr } = files;
    tailing = setInterval(() => void Promise.all([stdout.read(), stderr.read()]), TAIL_MS);
  } else {
    for (const stream of ["stdout", "stderr"] as const) {
      const source = child[stream];
      if (!source) continue;
      const rl = createInterface({ input: source, crlfDelay: Infinity });
      readers.push(
        (async () => {
          for await (const line of rl) run.onLine?.(line, stream);
        })(),
      );
    }
  }
  const result = await child;
  await Promise.allSettled(readers);
  if (tailing) clearInterval(tailing);
  if (files) await Promise.all([files.stdout.read(true), files.stderr.read(true)]);
  for (const fd of fds) closeSync(fd);
  if (timer) clearTimeout(timer);
  run.signal?.removeEventListener("abort", onAbort);
  // Whatever the main process left behind in its group goes too.
  if (pid !== undefined && (timedOut || aborted)) killGroup(pid, "SIGKILL");
  return {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    stdout: files ? files.stdout.text : String(result.stdout ?? ""),
    stderr: files ? files.stderr.text : String(result.stderr ?? ""),
    timedOut,
    aborted,
  };
}
