// Proves the domstats reader's CPU figure is real: a running guest is sampled
// while idle (it must stay low), then while `vagrant ssh` runs a busy loop in it
// (it must rise above 50 % of its vCPU). Prints every reading as a JSON line.
//
//   npx tsx tests/real-vms/measure-cpu.ts <vagrant project folder>
//
// Uses VAGRANT_BIN, VIRSH_BIN, LIBVIRT_URI and VAGRANT_HOME like the app.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { env } from "~/server/env";
import { readVmStats, type VmStatsResult } from "~/server/hypervisor/vm-stats";

const IDLE_MAX_PCT = 25;
const BUSY_MIN_PCT = 50;
const INTERVAL_MS = 2500;

const folder = path.resolve(process.argv[2] ?? "");
if (!process.argv[2]) {
  console.error("usage: measure-cpu.ts <vagrant project folder>");
  process.exit(2);
}
const vm = { id: path.basename(folder), folder };

async function sample(label: string, count: number): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    await sleep(INTERVAL_MS);
    const [r] = (await readVmStats([vm])) as [VmStatsResult];
    console.log(JSON.stringify({ phase: label, ...r }));
    if (r.status !== "ok") throw new Error(`no reading while ${label}: ${r.reason}`);
    if (r.stats.cpuPct !== null) values.push(r.stats.cpuPct);
  }
  return values;
}

// Settle: the first reading only sets the baselines.
await readVmStats([vm]);
const idle = await sample("idle", 3);

// The loop starts once `vagrant ssh` has logged in (seconds under emulation):
// sample only after it says so.
const busy = execa(env().VAGRANT_BIN, ["ssh", "-c", 'echo looping; timeout 20 sh -c "while :; do :; done"'], {
  cwd: folder,
  reject: false,
  stdin: "ignore",
});
await new Promise<void>((resolve, reject) => {
  busy.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("looping") && resolve());
  void busy.then((r) => reject(new Error(`vagrant ssh ended before the loop started: ${r.stderr || r.stdout}`)));
});
await readVmStats([vm]); // a baseline inside the busy period
const loaded = await sample("busy", 4);
await busy;

const idleMax = Math.max(...idle);
const busyMax = Math.max(...loaded);
console.log(JSON.stringify({ idleMaxPct: idleMax, busyMaxPct: busyMax, idle, busy: loaded }));
if (idle.length === 0 || loaded.length === 0) throw new Error("the reader gave no CPU figures");
if (idleMax >= IDLE_MAX_PCT) throw new Error(`idle guest at ${idleMax} % CPU (expected < ${IDLE_MAX_PCT} %)`);
if (busyMax <= BUSY_MIN_PCT) throw new Error(`busy guest at only ${busyMax} % CPU (expected > ${BUSY_MIN_PCT} %)`);
console.log(`cpu check passed: idle max ${idleMax} %, busy max ${busyMax} %`);
