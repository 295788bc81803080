// npm run bench:sampler [-- <ticks>]
// Runs the host collector for N ticks in-process (back to back) and prints the
// CPU time and wall time per tick, child processes spawned and RSS before and
// after; the last line is JSON for machines.
//
// What the RSS figure means. Running ticks back to back allocates ~1000x
// faster than the real sampler (one tick per 5 s), and V8 answers a high
// allocation rate by doubling its young generation up to a ceiling (semi-spaces
// of 16 MB on 64-bit; new space 16 -> 32 MB here): a one-time, bounded growth
// that a real sampler does not trigger (at a low allocation rate V8 shrinks the
// young generation instead). An earlier version of this bench measured with
// that doubling somewhere inside its window and reported +10 to +28 MB while
// the JS heap in use stayed flat; capping it (--max-semi-space-size=8) made
// the same run grow by ~2 MB or less, which is how the cause was found. So this
// bench first drives the young generation to its ceiling, warms the collector
// up, and only then measures; the sizes at each step are printed. An empty
// loop of the same length (await of a resolved promise per tick) is measured
// the same way as a baseline for the measuring noise.
import childProcess from "node:child_process";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { percentile } from "../src/server/metrics/sampler";

const ticks = Number(process.argv[2] ?? process.env.BENCH_TICKS ?? 10_000);
const WARMUP = 2000; // JIT, the collector's caches (whole disks, physical NICs), the allocator

// Count every way of starting a process. Wrap these before the collector is
// imported, so a module that binds them at load time is counted too.
let childProcesses = 0;
const cp = childProcess as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"]) {
  const original = cp[name]!;
  cp[name] = (...args: unknown[]) => {
    childProcesses++;
    return original(...args);
  };
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MB = 1024 * 1024;
// Two full GCs: the first only runs the weak callbacks of native wrappers (the
// fs.promises request of each statfs), the second frees them. V8 then hands
// freed pages back to the OS on a background thread: give it a moment, or the
// reading depends on that thread's timing.
const rssMb = async () => {
  gc();
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return process.memoryUsage().rss / MB;
};
const youngGenerationMb = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_size / MB;
const r3 = (n: number | null) => Math.round((n ?? 0) * 1000) / 1000;

interface Measured {
  warmupTicks: number;
  youngMb: { afterWarmup: number; end: number };
  rssMb: { start: number; afterWarmup: number; end: number };
  rssAlong: string[];
  heapUsedMb: { afterWarmup: number; end: number };
  /** Sorted ascending. */
  cpuMs: number[];
  wallMs: number[];
}

/**
 * Drives V8's young generation to its ceiling, where back-to-back ticks would
 * take it anyway: V8 doubles it each time the bytes that survive scavenges
 * exceed its size, up to --max-semi-space-size. Each round keeps twice the
 * current size alive across scavenges; a round that leaves the size unchanged
 * means the ceiling is reached.
 */
function growYoungGenerationToCeiling(): number {
  for (let round = 0; round < 10; round++) {
    const before = youngGenerationMb();
    const survivors: number[][] = [];
    for (let kept = 0; kept < 2 * before * MB; kept += 1024) survivors.push(new Array<number>(120).fill(round));
    gc();
    if (youngGenerationMb() === before) return before;
  }
  return youngGenerationMb();
}

/** Warms `tick` up, then measures `ticks` of it. */
async function measure(tick: () => Promise<unknown>): Promise<Measured> {
  const rssAtStart = await rssMb();
  const warmupTicks = WARMUP;
  for (let i = 0; i < warmupTicks; i++) await tick();
  const rssAfterWarmup = await rssMb();
  const youngAfterWarmup = youngGenerationMb();
  const heapAfterWarmup = process.memoryUsage().heapUsed / MB;
  // Preallocated, so the bench's own bookkeeping allocates nothing per tick.
  const cpuMs = new Float64Array(ticks);
  const wallMs = new Float64Array(ticks);
  const rssAlong: string[] = [];
  for (let i = 0; i < ticks; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await tick();
    wallMs[i] = performance.now() - w0;
    const c = process.cpuUsage(c0);
    cpuMs[i] = (c.user + c.system) / 1000;
    if ((i + 1) % Math.ceil(ticks / 4) === 0) rssAlong.push(`${i + 1}: ${(await rssMb()).toFixed(1)} MB`);
  }
  return {
    warmupTicks,
    youngMb: { afterWarmup: youngAfterWarmup, end: youngGenerationMb() },
    rssMb: { start: rssAtStart, afterWarmup: rssAfterWarmup, end: await rssMb() },
    rssAlong,
    heapUsedMb: { afterWarmup: heapAfterWarmup, end: process.memoryUsage().heapUsed / MB },
    cpuMs: Array.from(cpuMs.sort()), // typed arrays sort numerically
    wallMs: Array.from(wallMs.sort()),
  };
}

async function main() {
  const { createHostCollector } = await import("../src/server/metrics/collectors/host");
  const youngAtStart = youngGenerationMb();
  const youngCeiling = growYoungGenerationToCeiling();
  const baseline = await measure(() => Promise.resolve());
  const collector = createHostCollector({ paths: ["/", process.cwd()] });
  const host = await measure(() => collector.collect(Date.now()));

  const p = percentile;
  const growth = (m: Measured) => m.rssMb.end - m.rssMb.afterWarmup;
  const result = {
    cpuMsPerTickP50: r3(p(host.cpuMs, 50)),
    cpuMsPerTickP95: r3(p(host.cpuMs, 95)),
    wallMsPerTickP95: r3(p(host.wallMs, 95)),
    childProcesses,
    rssGrowthMb: r3(growth(host)),
    ticks,
  };
  const signed = (n: number) => `${n >= 0 ? "+" : ""}${r3(n)}`;
  console.log(`host collector, ${ticks} ticks back to back (after ${host.warmupTicks} warm-up ticks)`);
  console.log(`  CPU per tick   p50 ${result.cpuMsPerTickP50} ms   p95 ${result.cpuMsPerTickP95} ms   (target <= 5 ms)`);
  console.log(`  wall per tick  p50 ${r3(p(host.wallMs, 50))} ms   p95 ${result.wallMsPerTickP95} ms`);
  console.log(`  child processes spawned: ${childProcesses} (target 0)`);
  console.log(
    `  RSS ${r3(host.rssMb.afterWarmup)} MB after warm-up, ${r3(host.rssMb.end)} MB after ${ticks} ticks (${signed(result.rssGrowthMb)} MB; target: no growth)`,
  );
  console.log(`  RSS along the run: ${host.rssAlong.join(", ")}`);
  console.log(`  RSS before the warm-up: ${r3(host.rssMb.start)} MB`);
  console.log(
    `  V8 young generation: ${youngAtStart} MB at start, driven to its ceiling of ${youngCeiling} MB first; ${host.youngMb.afterWarmup} MB after warm-up, ${host.youngMb.end} MB at the end`,
  );
  console.log(`  JS heap used ${r3(host.heapUsedMb.afterWarmup)} MB after warm-up, ${r3(host.heapUsedMb.end)} MB at the end`);
  console.log(`baseline: empty loop (await Promise.resolve()), ${ticks} ticks after ${baseline.warmupTicks} warm-up ticks`);
  console.log(
    `  RSS ${r3(baseline.rssMb.afterWarmup)} MB -> ${r3(baseline.rssMb.end)} MB (${signed(growth(baseline))} MB); host collector net of it: ${signed(growth(host) - growth(baseline))} MB`,
  );
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
