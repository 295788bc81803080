// npm run bench:idle
// What the idle app costs: the production server (`next start` on the build in
// NEXT_DIST_DIR, default .next) with 2 running VMs and no client, measured for
// IDLE_BENCH_SECONDS (default 180, at least 180 for a result that counts).
//
// Hypervisor: the real one (vagrant + libvirt on qemu:///system, box
// local/debian12 in IDLE_BENCH_VAGRANT_HOME) when IDLE_BENCH_REAL=1 and both
// are present: it boots 2 real guests and destroys them at the end. Otherwise
// the stand-in (tests/support/fake-vagrant, libvirt's test driver), whose "up"
// starts a stand-in guest. The output says which, and why.
//
// The stand-in's figures depend on libvirt's test driver: it runs inside virsh
// itself (no daemon, no QEMU to ask), and its one domain "test" is not one of
// the 2 VMs, so each `domstats` there is a little cheaper than on
// qemu:///system, and the VMs' readings say "no libvirt domain". What the app
// does per tick (the sampler, its database writes, one command to its
// long-lived virsh) is the same. libvirtd's own CPU is never counted: it is not
// the app's child.
//
// Figures:
// - cpuPctOfCore: CPU time of the app process and all its children (those that
//   ended, from /proc/<pid>/stat cutime+cstime, and those still alive) over the
//   window, as a percentage of one core.
//   The app's long-lived virsh (the sampler's session) is one of those children.
// - childrenPerMinute: processes the app started in the window, from
//   `strace -f --seccomp-bpf -e trace=execve` (only execve stops the tracee,
//   so tracing costs the app next to nothing); null without strace.
// - For comparison in the same run, the host readiness check as it ran every
//   minute before (every tool asked: `--full`) against the check as it repeats
//   now, in CPU ms (with children) and child processes.
// Targets (issue #12): ≤ 0.5 % of a core, ≤ 1 child process per sampler tick.
// The last line is JSON for machines.
import childProcess, { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const SECONDS = Number(process.env.IDLE_BENCH_SECONDS ?? 180);
const SETTLE_S = Number(process.env.IDLE_BENCH_SETTLE_SECONDS ?? 30); // start-up work (first checks, reconciliation, key sync) before the window
const DIST_DIR = process.env.NEXT_DIST_DIR ?? ".next";
const PORT = 3390 + Number(process.env.E2E_PORT_OFFSET ?? 0);
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

if (!existsSync(path.join(ROOT, DIST_DIR, "BUILD_ID"))) {
  console.error(`No production build in ${DIST_DIR}: run NEXT_DIST_DIR=${DIST_DIR} npx next build first.`);
  process.exit(1);
}

// --- Which hypervisor --------------------------------------------------------
const realHome = process.env.IDLE_BENCH_VAGRANT_HOME ?? "";
const libvirtAnswers = () => spawnSync("virsh", ["--connect", "qemu:///system", "version"], { encoding: "utf8", timeout: 15_000 }).status === 0;
const boxCached = () => Boolean(realHome) && existsSync(path.join(realHome, "boxes", "local-VAGRANTSLASH-debian12"));
let hypervisor: "real" | "stand-in" = "stand-in";
let why = "IDLE_BENCH_REAL is not 1";
if (process.env.IDLE_BENCH_REAL === "1") {
  if (!libvirtAnswers()) why = "IDLE_BENCH_REAL=1, but libvirt does not answer on qemu:///system";
  else if (!boxCached()) why = `IDLE_BENCH_REAL=1, but there is no local/debian12 box in IDLE_BENCH_VAGRANT_HOME (${realHome || "unset"})`;
  else {
    hypervisor = "real";
    why = "IDLE_BENCH_REAL=1, libvirt answers and the box is cached";
  }
}

const data = mkdtempSync(path.join(tmpdir(), "twarga-bench-idle-"));
const appEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: process.env.HOME ?? data,
  NODE_ENV: "production",
  NEXT_DIST_DIR: DIST_DIR,
  PORT: String(PORT),
  AUTH_URL: `http://localhost:${PORT}`,
  AUTH_SECRET: "bench-idle-secret-0123456789abcdefghijklmnopqrstuvwxyz",
  DATA_DIR: data,
  DATABASE_URL: `file:${path.join(data, "app.db")}`,
  LOCAL_IDP: "on",
  LOCAL_IDP_PORT: String(PORT + 1),
  AUTH_ALLOWED_DOMAINS: "example.com",
  SSHD_LOG_FOLLOW: "false",
  ...(hypervisor === "real"
    ? { VAGRANT_HOME: realHome, LIBVIRT_URI: "qemu:///system" }
    : {
        VAGRANT_BIN: path.join(ROOT, "tests/support/fake-vagrant/vagrant"),
        VM_DRIVER: "qemu",
        LIBVIRT_URI: "test:///default",
        // The stand-in's VMs have no domains in the test driver: reconciling with libvirt would call them missing.
        VM_STATE_FROM_LIBVIRT: "false",
      }),
};
// Diagnosis: IDLE_BENCH_CPU_PROF=<dir> runs the app under V8's sampling profiler (every 2 ms; it costs CPU
// itself, so the figures of such a run are not the result) and prints where the app's own time went.
const PROFILE_DIR = process.env.IDLE_BENCH_CPU_PROF;
const nodeArgs = PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`, "--cpu-prof-interval=2000"] : []; // not allowed in NODE_OPTIONS
Object.assign(process.env, appEnv); // this process seeds the database with the app's own code: same settings

// Count the processes this bench process starts (the readiness comparison), before any module binds spawn.
let started = 0;
const cp = childProcess as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of ["spawn", "execFile"]) {
  const original = cp[name]!;
  cp[name] = (...args: unknown[]) => {
    started++;
    return original(...args);
  };
}
syncBuiltinESMExports();

const { migrate } = await import("../src/server/db/migrate");
const { createDatabaseClient } = await import("../src/server/db/client");
const { ensureDefaultCatalog } = await import("../src/server/vms/catalog");
const { createVm } = await import("../src/server/vms/lifecycle");
const { checkHostReadiness } = await import("../src/server/hypervisor/readiness");
const { env } = await import("../src/server/env");

const r1 = (n: number) => Math.round(n * 10) / 10;
const r3 = (n: number) => Math.round(n * 1000) / 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** utime+stime and cutime+cstime of a process, in seconds. */
function procTimes(pid: number | "self"): { own: number; reaped: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14-17 of stat(5); f[0] is field 3.
    return { own: (Number(f[11]) + Number(f[12])) / CLK_TCK, reaped: (Number(f[13]) + Number(f[14])) / CLK_TCK };
  } catch {
    return null;
  }
}
/** A process's command line, arguments joined by spaces. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "?";
  }
}
function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number));
  } catch {
    return [];
  }
}
/**
 * CPU seconds of a process tree: each live process's own time plus what its
 * ended children used (cutime+cstime, counted once: an ended child is no longer
 * in the tree). Next's `start` may hand the server to a child process and exit;
 * strace, the launcher, then reaps it, so the tree is taken from the launcher
 * and the launcher's own time (the tracing) is left out.
 */
function treeCpu(root: number, leaveOutRootOwn: boolean): number {
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    const t = procTimes(p);
    if (!t) continue;
    sum += t.reaped + (p === root && leaveOutRootOwn ? 0 : t.own);
    stack.push(...children(p));
  }
  return sum;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
/**
 * Self time per function (and per package for node_modules) in the newest .cpuprofile in dir, top 20: only the
 * samples of the measured window, which ended tailMs before the profile did (the app's stop) and lasted windowMs.
 */
function printProfile(dir: string, windowMs: number, tailMs: number) {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => path.join(dir, f))
    .sort()
    .pop();
  if (!file) return console.log(`no profile in ${dir}`);
  const prof = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; endTime: number };
  const windowEnd = prof.endTime - tailMs * 1000;
  const windowStart = windowEnd - windowMs * 1000;
  let at = prof.endTime - prof.timeDeltas.reduce((sum, d) => sum + d, 0);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  prof.samples.forEach((id, i) => {
    at += prof.timeDeltas[i] ?? 0;
    if (at < windowStart || at > windowEnd) return;
    const f = byId.get(id)!.callFrame;
    const where = f.url.includes("node_modules/") ? f.url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, "$1") : f.url.replace(/.*\/(\.next[^/]*)\//, "$1/");
    const key = `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const total = [...self].filter(([k]) => !k.startsWith("(idle)")).reduce((sum, [, us]) => sum + us, 0);
  console.log(`profile ${file}: ${r1(total / 1000)} ms of samples outside (idle); top self time:`);
  for (const [k, us] of [...self]
    .filter(([k]) => !k.startsWith("(idle)"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20))
    console.log(`  ${r1(us / 1000)} ms  ${k}`);
}

// --- 1. The readiness check, before and now (in this process) ----------------
const e = env();
async function measureCheck(full: boolean, runs: number) {
  const before = procTimes("self")!;
  const cpu0 = process.cpuUsage();
  const started0 = started;
  for (let i = 0; i < runs; i++) await checkHostReadiness(e, { full });
  const after = procTimes("self")!;
  const own = process.cpuUsage(cpu0);
  const childCpuS = after.reaped - before.reaped;
  return { cpuMs: r1(((own.user + own.system) / 1000 + childCpuS * 1000) / runs), children: (started - started0) / runs };
}
await checkHostReadiness(e); // warm: versions become known
const everyTool = await measureCheck(true, 3);
const repeating = await measureCheck(false, 3);
console.log(`host readiness check, ${hypervisor} tools (mean of 3):`);
console.log(`  as it ran every minute before (every tool asked): ${everyTool.cpuMs} ms CPU with children, ${everyTool.children} child processes`);
console.log(`  as it repeats now (unchanged binaries, socket or in-process libvirt): ${repeating.cpuMs} ms CPU, ${repeating.children} child processes`);

// --- 2. Seed 2 VMs and start the app ------------------------------------------
await migrate(appEnv.DATABASE_URL!, { log: () => {} });
const db = createDatabaseClient(appEnv.DATABASE_URL!);
await ensureDefaultCatalog(db);
const box =
  hypervisor === "real"
    ? await db.box.findUniqueOrThrow({ where: { name: "local/debian12" } })
    : await db.box.upsert({
        where: { name: "local/tiny" },
        create: { name: "local/tiny", displayName: "Debian 12 minimal (tiny)", osFamily: "debian", minCpus: 1, minRamMb: 512, minDiskGb: 10 },
        update: {},
      });
const user = await db.user.create({ data: { email: "bench-idle@example.com", role: "USER" } });
const actor = { id: user.id, email: user.email, role: user.role };
const vmIds: string[] = [];
for (const name of ["idle-1", "idle-2"]) vmIds.push((await createVm(db, actor, { name, boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10 })).vm.id);

const straceLog = path.join(data, "execve.log");
const hasStrace = spawnSync("sh", ["-c", "command -v strace"]).status === 0;
const nextBin = path.join(ROOT, "node_modules/next/dist/bin/next");
const command = hasStrace
  ? [
      "strace",
      "-f",
      "--seccomp-bpf",
      "-qq",
      "-ttt",
      "-e",
      "trace=execve",
      "-e",
      "signal=none",
      "-o",
      straceLog,
      process.execPath,
      ...nodeArgs,
      nextBin,
      "start",
    ]
  : [process.execPath, ...nodeArgs, nextBin, "start"];
// On the real hypervisor the app makes an owner network, and vagrant-libvirt may upload the box image into the pool
// (a new volume per box added): what was not there before the run is removed after it.
const virshLines = (...args: string[]) =>
  spawnSync("virsh", ["--connect", "qemu:///system", "-q", ...args], { encoding: "utf8", timeout: 15_000 })
    .stdout.split("\n")
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
const networksBefore = hypervisor === "real" ? new Set(virshLines("net-list", "--all", "--name")) : null;
const volumesBefore = hypervisor === "real" ? new Set(virshLines("vol-list", "default")) : null;
const launcher = spawn(command[0]!, command.slice(1), { cwd: ROOT, env: appEnv, stdio: ["ignore", "pipe", "pipe"] });
let appLog = "";
launcher.stdout!.on("data", (d) => (appLog += d));
launcher.stderr!.on("data", (d) => (appLog += d));
const launcherPid = launcher.pid!;
const appCpu = () => treeCpu(launcherPid, hasStrace);
/** The app's own processes (Next's server), the launcher's children. */
const appPids = () => (hasStrace ? children(launcherPid) : [launcherPid]);

async function stopApp() {
  for (const p of appPids())
    try {
      process.kill(p, "SIGTERM");
    } catch {
      // already gone
    }
  await new Promise((resolve) => (launcher.exitCode !== null || launcher.signalCode !== null ? resolve(null) : launcher.once("exit", resolve)));
}

try {
  const until = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(`http://localhost:${PORT}/api/health`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > until || launcher.exitCode !== null) throw new Error(`the app did not answer:\n${appLog}`);
    await sleep(500);
  }
  const bootUntil = Date.now() + (hypervisor === "real" ? 600_000 : 120_000);
  for (;;) {
    const running = await db.vm.count({ where: { id: { in: vmIds }, state: "RUNNING" } });
    if (running === vmIds.length) break;
    if (Date.now() > bootUntil) throw new Error(`the VMs did not reach RUNNING:\n${appLog}`);
    await sleep(1000);
  }
  console.log(
    `app pids ${appPids().join(", ")} (${hypervisor} hypervisor: ${why}); 2 VMs running; settling ${SETTLE_S} s, then measuring ${SECONDS} s with no client`,
  );
  await sleep(SETTLE_S * 1000);

  // --- 3. The window ------------------------------------------------------------
  const t0 = Date.now();
  const ownNow = () => appPids().reduce((sum, p) => sum + (procTimes(p)?.own ?? 0), 0);
  /** The app's children alive now (its long-lived virsh), with their own CPU seconds so far. */
  const liveChildren = () =>
    new Map(
      appPids().flatMap((app) =>
        children(app).map((p): [number, { what: string; cpuS: number }] => [p, { what: commandLine(p), cpuS: procTimes(p)?.own ?? 0 }]),
      ),
    );
  const own0 = ownNow();
  const live0 = liveChildren();
  const cpu0 = appCpu();
  await sleep(SECONDS * 1000);
  const cpu1 = appCpu();
  const ownS = ownNow() - own0;
  const live1 = liveChildren();
  const t1 = Date.now();
  const wallS = (t1 - t0) / 1000;
  const cpuPctOfCore = r3(((cpu1 - cpu0) / wallS) * 100);

  let childrenPerMinute: number | null = null;
  const byCommand = new Map<string, number>();
  if (hasStrace) {
    // "<pid> <epoch.micros> execve("<path>", ["argv0", "argv1", ...], ...) = 0"; a PATH search adds failed attempts in the same pid.
    const seen = new Map<number, string>();
    for (const line of readFileSync(straceLog, "utf8").split("\n")) {
      const m = /^(\d+)\s+(\d+\.\d+)\s+execve\("([^"]*)", \[([^\]]*)\]/.exec(line);
      if (!m) continue;
      const at = Number(m[2]) * 1000;
      if (at < t0 || at > t1) continue;
      const pidStarted = Number(m[1]);
      // Named by program and first argument, leaving out virsh's "--connect <uri>".
      const argv = [...m[4]!.matchAll(/"([^"]*)"/g)].map((a) => a[1]!).filter((a, i, all) => a !== "--connect" && all[i - 1] !== "--connect");
      if (!seen.has(pidStarted)) seen.set(pidStarted, `${path.basename(argv[0] ?? m[3]!)} ${argv[1] ?? ""}`.trim());
    }
    for (const what of seen.values()) byCommand.set(what, (byCommand.get(what) ?? 0) + 1);
    childrenPerMinute = r3((seen.size / wallS) * 60);
  }
  const tickS = e.SAMPLER_INTERVAL_MS / 1000;
  const childrenPerTick = childrenPerMinute === null ? null : r3((childrenPerMinute / 60) * tickS);

  console.log(`window ${r1(wallS)} s: app + children used ${r3(cpu1 - cpu0)} s of CPU = ${cpuPctOfCore} % of a core (target ≤ 0.5)`);
  console.log(`  the app's own process: ${r3(ownS)} s (${r3((ownS / wallS) * 100)} %); its children: ${r3(cpu1 - cpu0 - ownS)} s`);
  const longLived = [...live1].filter(([p]) => live0.has(p)).map(([p, c]) => ({ pid: p, command: c.what, cpuS: r3(c.cpuS - live0.get(p)!.cpuS) }));
  for (const c of longLived) console.log(`  of which the long-lived child ${c.pid} (${c.command}): ${c.cpuS} s`);
  if (childrenPerMinute === null) console.log("child processes: not counted (no strace on this machine)");
  else {
    console.log(`child processes: ${childrenPerMinute} per minute = ${childrenPerTick} per ${tickS} s sampler tick (target ≤ 1)`);
    for (const [what, n] of [...byCommand].sort((a, b) => b[1] - a[1])) console.log(`  ${n} × ${what}`);
  }
  const stopping = Date.now();
  await stopApp();
  if (PROFILE_DIR) printProfile(PROFILE_DIR, t1 - t0, Date.now() - stopping);
  console.log(
    JSON.stringify({
      bench: "idle",
      hypervisor,
      why,
      seconds: r1(wallS),
      runningVms: vmIds.length,
      clients: 0,
      cpuPctOfCore,
      appProcessPctOfCore: r3((ownS / wallS) * 100),
      childrenPerMinute,
      childrenPerTick,
      samplerIntervalS: tickS,
      childrenByCommand: Object.fromEntries(byCommand),
      longLivedChildren: longLived,
      readinessCheck: { everyToolAsked: everyTool, asItRepeatsNow: repeating },
      targets: { cpuPctOfCore: 0.5, childrenPerTick: 1 },
      meetsTargets: cpuPctOfCore <= 0.5 && (childrenPerTick === null || childrenPerTick <= 1) && wallS >= 180,
    }),
  );
} finally {
  await stopApp();
  // The guests go with their folders: the stand-in's SSH servers, or real domains and volumes.
  const vagrant = appEnv.VAGRANT_BIN ?? "vagrant";
  const vagrantHome = appEnv.VAGRANT_HOME ?? path.join(data, "vagrant.d");
  for (const id of vmIds) {
    const folder = path.join(data, "vms", id);
    if (existsSync(folder)) spawnSync(vagrant, ["destroy", "-f"], { cwd: folder, env: { ...appEnv, VAGRANT_HOME: vagrantHome }, timeout: 120_000 });
  }
  if (networksBefore && volumesBefore) {
    for (const n of virshLines("net-list", "--all", "--name").filter((n) => !networksBefore.has(n) && n.startsWith("twarga-"))) {
      virshLines("net-destroy", n);
      virshLines("net-undefine", n);
      console.log(`removed the owner network ${n} this run made`);
    }
    for (const v of virshLines("vol-list", "default").filter((v) => !volumesBefore.has(v) && v.includes("_vagrant_box_image_"))) {
      virshLines("vol-delete", "--pool", "default", v);
      console.log(`removed the box image volume ${v} this run uploaded`);
    }
  }
  await db.$disconnect();
  rmSync(data, { recursive: true, force: true });
}
process.exit(0);
