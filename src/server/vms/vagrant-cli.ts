// Runs the `vagrant` CLI: execa with an argument array (never a shell), cwd =
// the VM's folder, VAGRANT_HOME = the app's own. Lines are handed to the caller
// as they arrive. A time limit kills the whole process tree: vagrant runs in
// its own process group, so one signal to the group reaches every child.
import { execa } from "execa";
import { createInterface } from "node:readline";
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
}

export interface VagrantResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

/** Seconds between SIGTERM to the process group and SIGKILL. */
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

export async function runVagrant(run: VagrantRun, e: Env = env()): Promise<VagrantResult> {
  const child = execa(e.VAGRANT_BIN, run.args, {
    cwd: run.cwd,
    env: vagrantEnv(e),
    extendEnv: false,
    reject: false,
    detached: true,
    stdin: "ignore",
    stripFinalNewline: false,
  });
  let timedOut = false;
  let aborted = false;
  const pid = child.pid;
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
  const result = await child;
  await Promise.allSettled(readers);
  if (timer) clearTimeout(timer);
  run.signal?.removeEventListener("abort", onAbort);
  // Whatever the main process left behind in its group goes too.
  if (pid !== undefined && (timedOut || aborted)) killGroup(pid, "SIGKILL");
  return {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    stdout: String(result.stdout ?? ""),
    stderr: String(result.stderr ?? ""),
    timedOut,
    aborted,
  };
}
