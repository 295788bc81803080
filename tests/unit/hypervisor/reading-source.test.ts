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
    expect(rows).toEqual([
      {
        source: "vm:vm1",
        values: expect.objectContaining({ cpuPct: 50, memPct: 11.35, memAvailableBytes: 413444 * 1024 }),
        counters: expect.arrayContaining([{ name: "cpuSeconds", value: 40.864784 }]),
      },
    ]);
    expect(calls).toEqual([
      ["domstats", "--raw"],
      ["domstats", "--raw"],
    ]);
    // Why vm2 has none is recorded by the sampler in the database: tests/integration/metrics/leases.test.ts.
  });

  it("hands on the domain's raw counters as domstats printed them, in seconds and bytes, from the very first reading", async () => {
    const reader = new VmStatsReader(async () => VAGRANT_DOMAIN);
    const source = createVmReadingSource(async () => [{ id: "vm1", folder: "/srv/vms/proj1", domainName: "proj1_default" }], reader);
    const [reading] = await source.read(1_000);
    // cpu.time=38364784000 (ns), block.0.rd.bytes=69281792, block.0.wr.bytes=31936512, net.0.rx.bytes=66170, net.0.tx.bytes=83790
    expect(reading).toMatchObject({
      status: "ok",
      counters: { cpuSeconds: 38.364784, diskReadBytes: 69281792, diskWrittenBytes: 31936512, netReceiveBytes: 66170, netTransmitBytes: 83790 },
    });
    const rows = await createVmCollector(source).collect(6_000);
    expect(rows[0]!.counters).toEqual([
      { name: "cpuSeconds", value: 38.364784 },
      { name: "diskReadBytes", value: 69281792 },
      { name: "diskWrittenBytes", value: 31936512 },
      { name: "netReceiveBytes", value: 66170 },
      { name: "netTransmitBytes", value: 83790 },
    ]);
  });

  it("reads a zero counter as zero, not as missing (the plain domain fixture has written nothing)", async () => {
    const plain = readFileSync(path.join(import.meta.dirname, "../../fixtures/virsh/domstats-plain-domain.txt"), "utf8");
    const reader = new VmStatsReader(async () => plain);
    const [result] = await reader.read([{ id: "p", folder: "/srv/vms/tiny1", domainName: "tiny1" }], 1_000);
    // cpu.time=5063639000, block.0.rd.bytes=67121664, block.0.wr.bytes=0, net.0.rx.bytes=2022, net.0.tx.bytes=1542
    expect(result).toMatchObject({
      status: "ok",
      counters: { cpuSeconds: 5.063639, diskReadBytes: 67121664, diskWrittenBytes: 0, netReceiveBytes: 2022, netTransmitBytes: 1542 },
    });
  });
});
