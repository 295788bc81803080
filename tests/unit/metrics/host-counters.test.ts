// The raw counters the host collector hands on for the Prometheus exposition
// are exactly what the kernel's files say, converted to base units: /proc files
// captured from a real machine (tests/fixtures/proc), with a /sys tree that says
// which disks are whole disks and which interfaces are physical.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHostCollector } from "~/server/metrics/collectors/host";
import { cpuSecondsByMode, parseProcStat } from "~/server/metrics/collectors/procfs";

const PROC = path.join(import.meta.dirname, "../../fixtures/proc");
const sys = mkdtempSync(path.join(tmpdir(), "host-counters-sys-"));
for (const dir of ["block/vda/device", "block/zram0", "block/loop0", "class/net/eth0/device", "class/net/ifb0", "class/net/ifb1"]) {
  mkdirSync(path.join(sys, dir), { recursive: true });
}
afterAll(() => rmSync(sys, { recursive: true, force: true }));

describe("host collector counters (real /proc files)", () => {
  it("hands on CPU seconds by mode, bytes and operations per whole disk, and bytes per interface, as read", async () => {
    const collector = createHostCollector({ procRoot: PROC, sysRoot: sys, paths: [tmpdir()] });
    const readings = await collector.collect(Date.now());
    const host = readings.find((r) => r.source === "host")!;

    // stat's first line: "cpu  1842347 81522 387081 3237707 9411 0 4985 1072 0 0", in USER_HZ (1/100 s).
    expect(host.counters!.filter((c) => c.name === "cpuSeconds")).toEqual([
      { name: "cpuSeconds", labels: { mode: "user" }, value: 18423.47 },
      { name: "cpuSeconds", labels: { mode: "nice" }, value: 815.22 },
      { name: "cpuSeconds", labels: { mode: "system" }, value: 3870.81 },
      { name: "cpuSeconds", labels: { mode: "idle" }, value: 32377.07 },
      { name: "cpuSeconds", labels: { mode: "iowait" }, value: 94.11 },
      { name: "cpuSeconds", labels: { mode: "irq" }, value: 0 },
      { name: "cpuSeconds", labels: { mode: "softirq" }, value: 49.85 },
      { name: "cpuSeconds", labels: { mode: "steal" }, value: 10.72 },
    ]);
    // diskstats: "254 0 vda 1280713 149740 36965626 … 617823 1428481 145866472 …" (sectors of 512 bytes);
    // zram0 and the loop devices have no /sys/block/X/device, so they are not whole disks.
    expect(host.counters!.filter((c) => c.name !== "cpuSeconds")).toEqual([
      { name: "diskReadBytes", labels: { device: "vda" }, value: 36965626 * 512 },
      { name: "diskWrittenBytes", labels: { device: "vda" }, value: 145866472 * 512 },
      { name: "diskReadsCompleted", labels: { device: "vda" }, value: 1280713 },
      { name: "diskWritesCompleted", labels: { device: "vda" }, value: 617823 },
    ]);
    // net/dev: every interface but lo (and VM taps), with its byte counters.
    const nets = readings.filter((r) => r.source.startsWith("net:")).map((r) => [r.source, r.counters]);
    expect(nets).toEqual([
      [
        "net:ifb0",
        [
          { name: "netReceiveBytes", value: 0 },
          { name: "netTransmitBytes", value: 0 },
        ],
      ],
      [
        "net:ifb1",
        [
          { name: "netReceiveBytes", value: 0 },
          { name: "netTransmitBytes", value: 0 },
        ],
      ],
      [
        "net:eth0",
        [
          { name: "netReceiveBytes", value: 5519202630 },
          { name: "netTransmitBytes", value: 18338106 },
        ],
      ],
    ]);
    // Filesystems are levels, not counters.
    expect(readings.filter((r) => r.source.startsWith("fs:")).every((r) => r.counters === undefined)).toBe(true);
  });

  it("converts jiffies to seconds at USER_HZ and keeps every mode of the aggregate line", () => {
    const times = parseProcStat("cpu  100 0 250 1000 1 2 3 4 50 0\ncpu0 100 0 250 1000 1 2 3 4 50 0\n")!;
    // guest (50) is already inside user, so it is no mode of its own.
    expect(cpuSecondsByMode(times)).toEqual({ user: 1, nice: 0, system: 2.5, idle: 10, iowait: 0.01, irq: 0.02, softirq: 0.03, steal: 0.04 });
  });
});
