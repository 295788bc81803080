import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createVmReadingSource } from "~/server/hypervisor/reading-source";
import { VmStatsReader } from "~/server/hypervisor/vm-stats";
import { createVmCollector } from "~/server/metrics/collectors/vms";

const VAGRANT_DOMAIN = readFileSync(path.join(import.meta.dirname, "../../fixtures/virsh/domstats-vagrant-domain.txt"), "utf8");

describe("the sampler's VM source", () => {
  it("feeds the VM collector: rows for VMs with readings, none for unavailable ones", async () => {
    const outputs = [VAGRANT_DOMAIN, VAGRANT_DOMAIN.replace("cpu.time=38364784000", "cpu.time=40864784000")];
    const calls: string[][] = [];
    const reader = new VmStatsReader(async (args) => {
      calls.push(args);
      return outputs.shift()!;
    });
    const listed = [
      { id: "vm1", folder: "/srv/vms/proj1", domainName: "proj1_default" },
      { id: "vm2", folder: "/srv/vms/vm2", domainName: "vm2_default" },
    ];
    const source = createVmReadingSource(async () => listed, reader);
    const collector = createVmCollector(source);

    const first = await source.read(1_000);
    expect(first).toEqual([
      expect.objectContaining({ vmId: "vm1", status: "ok", cpuPct: null, memUsedBytes: (466388 - 413444) * 1024, rssBytes: 1414132 * 1024 }),
      { vmId: "vm2", status: "unavailable", reason: "no libvirt domain vm2_default" },
    ]);

    const rows = await collector.collect(6_000); // 2.5 s of CPU in 5 s
    expect(rows).toEqual([{ source: "vm:vm1", values: expect.objectContaining({ cpuPct: 50, memPct: 11.35, memAvailableBytes: 413444 * 1024 }) }]);
    expect(calls).toEqual([
      ["domstats", "--raw"],
      ["domstats", "--raw"],
    ]);
    // Why vm2 has none is recorded by the sampler in the database: tests/integration/metrics/leases.test.ts.
  });
});
