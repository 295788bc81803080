// npm run bench:sampler [-- <ticks>]
// Runs the host collector for N ticks in-process (back to back) and prints the
// CPU time and wall time per tick, child processes spawned and RSS before and
// after; the last line is JSON for machines.
import childProcess from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { percentile } from "../src/server/metrics/sampler";

const ticks = Number(process.argv[2] ?? process.env.BENCH_TICKS ?? 10_000);

// Count every way of starting a process. systeminformation binds these when it
// loads, so wrap them before the collector is imported.
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
const rssMb = () => {
  gc();
  gc();
  return process.memoryUsage().rss / 1024 / 1024;
};

async function main() {
  const { createHostCollector } = await import("../src/server/metrics/collectors/host");
  const collector = createHostCollector({ paths: ["/", process.cwd()] });
  // Warm-up: JIT, systeminformation's caches, the allocator's arenas.
  for (let i = 0; i < 1000; i++) await collector.collect(Date.now());
  const rssBefore = rssMb();
  const heapBefore = process.memoryUsage().heapUsed / 1024 / 1024;
  const rssAt: string[] = [];
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  for (let i = 0; i < ticks; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await collector.collect(Date.now());
    wallMs.push(performance.now() - w0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
    if ((i + 1) % Math.ceil(ticks / 4) === 0) rssAt.push(`${i + 1}: ${rssMb().toFixed(1)} MB`);
  }
  const rssAfter = rssMb();
  const heapAfter = process.memoryUsage().heapUsed / 1024 / 1024;
  cpuMs.sort((a, b) => a - b);
  wallMs.sort((a, b) => a - b);
  const r2 = (n: number | null) => Math.round((n ?? 0) * 1000) / 1000;
  const result = {
    cpuMsPerTickP50: r2(percentile(cpuMs, 50)),
    cpuMsPerTickP95: r2(percentile(cpuMs, 95)),
    wallMsPerTickP95: r2(percentile(wallMs, 95)),
    childProcesses,
    rssGrowthMb: r2(rssAfter - rssBefore),
    ticks,
  };
  console.log(`host collector, ${ticks} ticks back to back`);
  console.log(`  CPU per tick   p50 ${result.cpuMsPerTickP50} ms   p95 ${result.cpuMsPerTickP95} ms   (target <= 5 ms)`);
  console.log(`  wall per tick  p50 ${r2(percentile(wallMs, 50))} ms   p95 ${result.wallMsPerTickP95} ms`);
  console.log(`  child processes spawned: ${childProcesses} (target 0)`);
  console.log(`  RSS ${r2(rssBefore)} MB before, ${r2(rssAfter)} MB after (${result.rssGrowthMb >= 0 ? "+" : ""}${result.rssGrowthMb} MB)`);
  console.log(`  RSS along the run: ${rssAt.join(", ")}`);
  console.log(`  JS heap used ${r2(heapBefore)} MB before, ${r2(heapAfter)} MB after`);
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
