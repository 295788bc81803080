// The host collector on this very machine: values in range, rates never
// negative, and not a single child process per tick.
import childProcess from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { METRICS, type MetricName } from "~/server/metrics/catalog";

describe("host collector (real machine)", () => {
  it("measures plausible values without spawning anything", async () => {
    // systeminformation binds child_process functions when it loads, so count
    // calls by wrapping them before the collector (and si) are imported.
    const spawned: string[] = [];
    const cp = childProcess as unknown as Record<string, (...args: unknown[]) => unknown>;
    const names = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"];
    const originals = Object.fromEntries(names.map((n) => [n, cp[n]!]));
    for (const n of names)
      cp[n] = (...args: unknown[]) => {
        spawned.push(`${n} ${String(args[0])}`);
        return originals[n]!(...args);
      };
    try {
      const { createHostCollector } = await import("~/server/metrics/collectors/host");
      const collector = createHostCollector({ paths: ["/", os.tmpdir()] });
      const ticks = [];
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 250));
        ticks.push(await collector.collect(Date.now()));
      }
      expect(spawned).toEqual([]);

      const host = ticks.at(-1)!.find((r) => r.source === "host")!.values;
      for (const m of ["cpuPct", "cpuUserPct", "cpuSystemPct", "cpuIowaitPct", "cpuStealPct", "memPct", "swapPct", "fsPct"] as const) {
        expect(host[m], m).toBeGreaterThanOrEqual(0);
        expect(host[m], m).toBeLessThanOrEqual(100);
      }
      expect(host.cpuCount).toBe(os.availableParallelism());
      expect(host.memTotalBytes).toBe(os.totalmem());
      expect(host.memUsedBytes! + host.memAvailableBytes!).toBe(host.memTotalBytes);
      expect(host.swapUsedBytes).toBeLessThanOrEqual(host.swapTotalBytes!);
      // A clock wherever the kernel publishes one (cpufreq, or x86's "cpu MHz").
      const hasClock = existsSync("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq") || /^cpu MHz/m.test(readFileSync("/proc/cpuinfo", "utf8"));
      if (hasClock) expect(host.cpuMhz).toBeGreaterThan(0);
      expect(host.load1).toBeGreaterThanOrEqual(0);
      expect(Math.abs(host.uptimeS! - os.uptime())).toBeLessThan(5);
      expect(host.fsSizeBytes).toBeGreaterThan(host.fsUsedBytes!);

      const fs = ticks.at(-1)!.filter((r) => r.source.startsWith("fs:"));
      expect(fs.map((r) => r.source)).toEqual(["fs:/", `fs:${os.tmpdir()}`]);
      expect(ticks.at(-1)!.some((r) => r.source === "net:lo")).toBe(false);

      for (const tick of ticks)
        for (const reading of tick)
          for (const [m, v] of Object.entries(reading.values)) {
            if (METRICS[m as MetricName].unit === "bps" || METRICS[m as MetricName].unit === "ops") {
              expect(v === null || v >= 0, `${reading.source} ${m} = ${v}`).toBe(true);
            }
          }
      // After the first tick every rate is known.
      expect(host.diskReadBps).not.toBeNull();
      expect(host.netRxBps).not.toBeNull();

      // Control: the detector does see a call that spawns (fsSize runs df).
      const si = (await import("systeminformation")).default;
      await si.fsSize();
      expect(spawned.some((s) => s.includes("df"))).toBe(true);
    } finally {
      for (const n of names) cp[n] = originals[n]!;
    }
  });
});
