import { describe, expect, it } from "vitest";
import { CounterRates } from "~/server/metrics/rates";
import { cpuPercents, parseDiskstats, parseNetDev, parseProcStat } from "~/server/metrics/collectors/procfs";

describe("CounterRates", () => {
  it("gives bytes per second from counter deltas", () => {
    const r = new CounterRates();
    expect(r.rate("eth0", 1000, 0)).toBeNull(); // no baseline yet
    expect(r.rate("eth0", 6000, 5000)).toBe(1000);
    expect(r.rate("eth0", 6000, 10_000)).toBe(0);
  });

  it("never goes negative across a counter reset, and resumes on the next interval", () => {
    const r = new CounterRates();
    r.rate("eth0", 9_000_000, 0);
    r.rate("eth0", 9_500_000, 5000);
    expect(r.rate("eth0", 200, 10_000)).toBeNull(); // interface re-created: counter restarted
    expect(r.rate("eth0", 5200, 15_000)).toBe(1000);
  });

  it("ignores a reading that does not move time forward", () => {
    const r = new CounterRates();
    r.rate("d", 10, 5000);
    expect(r.rate("d", 20, 5000)).toBeNull();
  });

  it("forgets counters no longer present", () => {
    const r = new CounterRates();
    r.rate("a", 1, 0);
    r.rate("b", 1, 0);
    r.retainOnly(["a"]);
    expect(r.rate("b", 2, 1000)).toBeNull();
    expect(r.rate("a", 2, 1000)).toBe(1);
  });
});

describe("procfs parsers", () => {
  it("splits CPU time into busy, user, system, iowait and steal", () => {
    const a = parseProcStat("cpu  100 0 50 800 20 0 0 30 0 0\ncpu0 1 2 3\n")!;
    const b = parseProcStat("cpu  160 0 70 880 40 0 0 50 0 0\n")!;
    // deltas: user 60, system 20, idle 80, iowait 20, steal 20 -> total 200
    expect(cpuPercents(a, b)).toEqual({ cpuPct: 50, cpuUserPct: 30, cpuSystemPct: 10, cpuIowaitPct: 10, cpuStealPct: 10 });
    expect(cpuPercents(b, a)).toBeNull(); // counters went backwards
  });

  it("sums whole disks only, in bytes", () => {
    const text = [
      " 254       0 vda 100 0 2000 0 50 0 4000 0 0 0 0",
      " 254       1 vda1 100 0 2000 0 50 0 4000 0 0 0 0",
      "   7       0 loop0 9 0 9 0 9 0 9 0 0 0 0",
    ].join("\n");
    expect(parseDiskstats(text, (n) => n === "vda")).toEqual({ readOps: 100, readBytes: 2000 * 512, writeOps: 50, writeBytes: 4000 * 512 });
  });

  it("reads rx/tx bytes per interface", () => {
    const text = `Inter-|   Receive |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3245      30    0    0    0     0          0         0     3245      30    0    0    0     0       0          0
  eth0: 765817913   21309    0    0    0     0          0         0  1597268   13219    0    0    0     0       0          0`;
    expect(parseNetDev(text)).toEqual(
      new Map([
        ["lo", { rx: 3245, tx: 3245 }],
        ["eth0", { rx: 765817913, tx: 1597268 }],
      ]),
    );
  });
});
