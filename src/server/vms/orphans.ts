// Vagrant processes that outlived the app. Each job's Vagrant runs in its own
// process group with its output going to files (vagrant-cli.ts), so a crash of
// the app does not stop it: it goes on creating, starting or stopping the VM.
// The job records its PID, the process's start time and the boot it ran in;
// whoever recovers the job checks that exactly that process still runs (a PID
// alone may since belong to another program), waits for it up to the job's
// time limit, or ends its process group after that, and only then reads the
// VM's state. So no `vagrant up` finishes unseen after its VM was called ERROR.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env, type Env } from "../env";
import { vmFolder } from "../folders";
import type { VmJob } from "~/generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { retryDb } from "../db/retry";
import { humanText, parseMachineReadableLine, commandOutcome } from "./machine-readable";

/** Where a job's Vagrant writes its output (`.stdout`, `.stderr` appended): in the VM's folder, which only the app can read. */
export function jobOutputFile(vmId: string, e: Env = env()): string {
  return path.join(vmFolder(vmId, e), ".twarga", "vagrant");
}

/** A process as the kernel knows it: its PID, its start time in clock ticks after boot, and the boot. */
export interface ProcessIdentity {
  pid: number;
  startTicks: bigint;
  bootId: string;
}

let cachedBootId: string | null = null;

/** This boot's random id (changes at every boot, so PIDs and start times from another boot are never compared). */
export function currentBootId(): string {
  cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return cachedBootId;
}

/** The identity of a live process, or null when it is gone or a zombie (exited, not yet reaped). */
export function processIdentity(pid: number): ProcessIdentity | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted from the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return null;
  const start = fields[19]; // field 22 of the whole line: starttime
  if (start === undefined || !/^\d+$/.test(start)) return null;
  return { pid, startTicks: BigInt(start), bootId: currentBootId() };
}

/** Whether the recorded process is still the one running under its PID. */
export function isSameProcessAlive(id: ProcessIdentity): boolean {
  const now = processIdentity(id.pid);
  return now !== null && now.bootId === id.bootId && now.startTicks === id.startTicks;
}

/** The job's recorded Vagrant process, or null when none was recorded. */
export function recordedVagrant(job: Pick<VmJob, "vagrantPid" | "vagrantPidStart" | "vagrantBootId">): ProcessIdentity | null {
  if (job.vagrantPid === null || job.vagrantPidStart === null || job.vagrantBootId === null) return null;
  return { pid: job.vagrantPid, startTicks: BigInt(job.vagrantPidStart), bootId: job.vagrantBootId };
}

export interface OrphanWait {
  /** When to stop waiting and end the process group. */
  deadline: Date;
  /** How often to look (default 500 ms). */
  pollMs?: number;
  /** Between SIGTERM to the group and SIGKILL (default 5 s). */
  killGraceMs?: number;
  /** Stop waiting (this process is shutting down): the Vagrant process is left alone for the next recovery. */
  signal?: AbortSignal;
}

export type OrphanOutcome = "none" | "finished" | "ended" | "abandoned";

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * Waits for a job's Vagrant process that outlived its app: "none" when it was
 * not running (or not recorded), "finished" when it ended by itself, "ended"
 * when it ran past the deadline and its group was killed, "abandoned" when the
 * signal stopped the wait with the process still running.
 */
export async function awaitOrphanedVagrant(id: ProcessIdentity | null, wait: OrphanWait): Promise<OrphanOutcome> {
  if (!id || !isSameProcessAlive(id)) return "none";
  const pollMs = wait.pollMs ?? 500;
  while (isSameProcessAlive(id)) {
    if (wait.signal?.aborted) return "abandoned";
    const left = wait.deadline.getTime() - Date.now();
    if (left <= 0) {
      // Checked just above: the group is still this job's Vagrant, whose PID is its group id (it was started detached).
      killGroup(id.pid, "SIGTERM");
      const until = Date.now() + (wait.killGraceMs ?? 5_000);
      while (isSameProcessAlive(id) && Date.now() < until) await sleep(Math.min(pollMs, 100));
      if (isSameProcessAlive(id)) killGroup(id.pid, "SIGKILL");
      while (isSameProcessAlive(id)) await sleep(50);
      return "ended";
    }
    await sleep(Math.min(pollMs, left), wait.signal);
  }
  return "finished";
}

/**
 * What a Vagrant command left in its output files: its last lines in words,
 * whether it ended by itself (its action's end line, or an error-exit), and the
 * error it ended with, if any.
 */
export async function orphanOutput(outputFile: string, lines = 30): Promise<{ tail: string[]; ended: boolean; error: string | null }> {
  const [stdout, stderr] = await Promise.all([".stdout", ".stderr"].map((ext) => readFile(`${outputFile}${ext}`, "utf8").catch(() => "")));
  const tail: string[] = [];
  for (const raw of stdout!.split("\n")) {
    const record = parseMachineReadableLine(raw);
    const text = record ? humanText(record) : raw.trim() === "" ? null : raw;
    if (text !== null) tail.push(text);
  }
  // Without its exit code: an error-exit line says it failed, and so does output on stderr from a command that never reached its action's end.
  const finished = /^\d+,[^,]*,action,[^,]+,end$/m.test(stdout!);
  const failed = /,error-exit,/.test(stdout!) || (!finished && stderr!.trim() !== "");
  return {
    tail: tail.slice(-lines),
    ended: finished || /,error-exit,/.test(stdout!),
    error: failed ? commandOutcome({ exitCode: null, stdout: stdout!, stderr: stderr! }).error : null,
  };
}

/**
 * Records a job's Vagrant process as soon as it exists (a few tries: a job
 * whose process is not recorded is reconciled at once after a crash, without
 * waiting for it).
 */
export async function recordVagrantProcess(db: Db, jobId: string, pid: number): Promise<void> {
  const id = processIdentity(pid);
  if (!id) return; // already gone: nothing could outlive the app
  await retryDb(
    "recording the Vagrant process",
    () => db.vmJob.update({ where: { id: jobId }, data: { vagrantPid: id.pid, vagrantPidStart: id.startTicks, vagrantBootId: id.bootId } }),
    { attempts: 3, firstDelayMs: 200 },
  ).catch((err: unknown) => console.error(`[vms] job ${jobId}: could not record its Vagrant process (PID ${pid}):`, err));
}
