// The /proc parsers the host collector uses for memory and CPU clock, against
// files captured from a real machine (Linux 6.18, x86-64 VM with 24 GB and no
// swap; cpuinfo trimmed of its long flag lines).
import { describe, expect, it } from "vitest";
import { parseCpuinfoMhz, parseMeminfo } from "~/server/metrics/collectors/procfs";

const MEMINFO = `MemTotal:       24683656 kB
MemFree:        22279132 kB
MemAvailable:   23560544 kB
Buffers:           24476 kB
Cached:          1272228 kB
SwapCached:            0 kB
Active:           526188 kB
Inactive:        1319476 kB
Active(anon):      14500 kB
Inactive(anon):   573772 kB
Active(file):     511688 kB
Inactive(file):   745704 kB
Unevictable:       10388 kB
Mlocked:            8884 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:             58728 kB
Writeback:             0 kB
AnonPages:        559424 kB
Mapped:           100808 kB
Shmem:             39368 kB
KReclaimable:     354872 kB
Slab:             405748 kB
SReclaimable:     354872 kB
SUnreclaim:        50876 kB
KernelStack:        2544 kB
PageTables:        17376 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:    12341828 kB
Committed_AS:     710028 kB
VmallocTotal:   34359738367 kB
VmallocUsed:        6740 kB
VmallocChunk:          0 kB
Percpu:              856 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
Balloon:               0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:       20480 kB
DirectMap2M:     2076672 kB
DirectMap1G:    25165824 kB
`;

const CPUINFO = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC
stepping	: 1
microcode	: 0x1000065
cpu MHz		: 2445.406
cache size	: 512 KB
physical id	: 0
siblings	: 2
core id		: 0
cpu cores	: 2
apicid		: 0
initial apicid	: 0
bogomips	: 4890.81

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC
stepping	: 1
microcode	: 0x1000065
cpu MHz		: 2445.406
cache size	: 512 KB
physical id	: 0
siblings	: 2
core id		: 1
cpu cores	: 2
apicid		: 1
initial apicid	: 1
bogomips	: 4890.81
`;

describe("parseMeminfo", () => {
  it("reads total, available and swap in bytes (kB in the file is KiB)", () => {
    expect(parseMeminfo(MEMINFO)).toEqual({
      totalBytes: 24683656 * 1024,
      availableBytes: 23560544 * 1024,
      swapTotalBytes: 0,
      swapFreeBytes: 0,
    });
  });

  it("reads swap when there is some", () => {
    const withSwap = MEMINFO.replace(/^SwapTotal:.*$/m, "SwapTotal:       2097148 kB").replace(/^SwapFree:.*$/m, "SwapFree:        1048576 kB");
    expect(parseMeminfo(withSwap)).toMatchObject({ swapTotalBytes: 2097148 * 1024, swapFreeBytes: 1048576 * 1024 });
  });

  it("estimates available memory on kernels without MemAvailable (free + buffers + cache + reclaimable slab)", () => {
    const old = MEMINFO.replace(/^MemAvailable:.*\n/m, "");
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(MEMINFO)![1]);
    expect(parseMeminfo(old)!.availableBytes).toBe((kib("MemFree") + kib("Buffers") + kib("Cached") + kib("SReclaimable")) * 1024);
  });

  it("gives null for a file without MemTotal", () => {
    expect(parseMeminfo("")).toBeNull();
    expect(parseMeminfo(MEMINFO.replace(/^MemTotal:.*\n/m, ""))).toBeNull();
  });
});

describe("parseCpuinfoMhz", () => {
  it("averages the cpu MHz lines of every CPU", () => {
    expect(parseCpuinfoMhz(CPUINFO)).toBeCloseTo(2445.406, 3);
    const mixed = CPUINFO.replace("cpu MHz\t\t: 2445.406", "cpu MHz\t\t: 1200.000");
    expect(parseCpuinfoMhz(mixed)).toBeCloseTo((1200 + 2445.406) / 2, 3);
  });

  it("gives null where the architecture prints no clock (most ARM kernels)", () => {
    expect(parseCpuinfoMhz("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n")).toBeNull();
  });
});
