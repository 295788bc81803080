import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { domainIdFile, VmStatsReader, type VmRef } from "~/server/hypervisor/vm-stats";

const VAGRANT_DOMAIN = readFileSync(path.join(import.meta.dirname, "../../fixtures/virsh/domstats-vagrant-domain.txt"), "utf8");

/** The real fixture with some counters moved on, as the next `virsh domstats` would print them. */
function withCounters(text: string, counters: Record<string, number>, name?: string): string {
  let out = text;
  for (const [key, value] of Object.entries(counters)) {
    const line = new RegExp(`^(\\s*${key.replaceAll(".", "\\.")})=.*$`, "m");
    expect(out).toMatch(line);
    out = out.replace(line, `$1=${value}`);
  }
  return name ? out.replace("Domain: 'proj1_default'", `Domain: '${name}'`) : out;
}

/** Scripted virsh: each domstats call returns the next text (or throws an Error). */
function scriptedVirsh(outputs: (string | Error)[], domnames: Record<string, string> = {}) {
  const calls: string[][] = [];
  const virsh = async (args: string[]) => {
    calls.push(args);
    if (args[0] === "domname") {
      const name = domnames[args[1]!];
      if (!name) throw Object.assign(new Error("failed"), { stderr: "error: failed to get domain" });
      return `${name}\n`;
    }
    const next = outputs.shift();
    if (next === undefined) throw new Error("no more scripted output");
    if (next instanceof Error) throw next;
    return next;
  };
  return { virsh, calls };
}

let root: string;
let clock: number;
const now = () => clock;
const vm = (id: string, folderName = "proj1"): VmRef => ({ id, folder: path.join(root, folderName) });

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "vm-stats-"));
  clock = 1_000_000;
});

describe("VmStatsReader", () => {
  it("reports memory at once and rates from the second reading on", async () => {
    const base = { "cpu.time": 38364784000, "block.0.rd.bytes": 69281792, "block.0.wr.bytes": 31936512, "net.0.rx.bytes": 66170, "net.0.tx.bytes": 83790 };
    const { virsh, calls } = scriptedVirsh([
      VAGRANT_DOMAIN,
      withCounters(VAGRANT_DOMAIN, {
        "cpu.time": base["cpu.time"] + 3_000_000_000, // 3 s of CPU in 5 s on 1 vCPU
        "block.0.rd.bytes": base["block.0.rd.bytes"] + 5 * 4096,
        "block.0.wr.bytes": base["block.0.wr.bytes"] + 5 * 1_000_000,
        "net.0.rx.bytes": base["net.0.rx.bytes"] + 5 * 300,
        "net.0.tx.bytes": base["net.0.tx.bytes"] + 5 * 120,
      }),
    ]);
    const reader = new VmStatsReader(virsh, now);

    const [first] = await reader.read([vm("vm1")]);
    expect(first).toMatchObject({
      vmId: "vm1",
      status: "ok",
      domain: "proj1_default",
      vcpus: 1,
      stats: {
        cpuPct: null,
        diskReadBps: null,
        netRxBps: null,
        memUsedBytes: (466388 - 413444) * 1024,
        memAvailableBytes: 413444 * 1024,
        memPct: 11.35,
        rssBytes: 1414132 * 1024,
      },
    });

    clock += 5000;
    const [second] = await reader.read([vm("vm1")]);
    expect(second).toMatchObject({
      status: "ok",
      stats: { cpuPct: 60, diskReadBps: 4096, diskWriteBps: 1_000_000, netRxBps: 300, netTxBps: 120 },
    });
    expect(calls).toEqual([
      ["domstats", "--raw"],
      ["domstats", "--raw"],
    ]);
  });

  it("divides CPU time by the VM's vCPUs and caps emulator overhead at 100 %", async () => {
    const two = (cpu: number) => withCounters(VAGRANT_DOMAIN, { "cpu.time": cpu, "vcpu.current": 2 });
    const { virsh } = scriptedVirsh([two(0), two(5_000_000_000), two(15_500_000_000)]);
    const reader = new VmStatsReader(virsh, now);
    await reader.read([vm("a")]);
    clock += 5000;
    expect((await reader.read([vm("a")]))[0]).toMatchObject({ stats: { cpuPct: 50 } });
    clock += 5000;
    expect((await reader.read([vm("a")]))[0]).toMatchObject({ stats: { cpuPct: 100 } });
  });

  it("gives no rate across a counter reset, then rates from the new baseline", async () => {
    const cpu = (ns: number) => withCounters(VAGRANT_DOMAIN, { "cpu.time": ns, "net.0.rx.bytes": ns / 1000 });
    const { virsh } = scriptedVirsh([cpu(40e9), cpu(1e9), cpu(2e9)]);
    const reader = new VmStatsReader(virsh, now);
    await reader.read([vm("a")]);
    clock += 5000;
    const [afterReset] = await reader.read([vm("a")]);
    expect(afterReset).toMatchObject({ status: "ok", stats: { cpuPct: null, netRxBps: null } });
    clock += 5000;
    expect((await reader.read([vm("a")]))[0]).toMatchObject({ stats: { cpuPct: 20, netRxBps: 200_000 } });
  });

  it("forgets baselines while the domain is not running, so a restart starts fresh", async () => {
    const shutOff = "Domain: 'proj1_default'\n  state.state=5\n  state.reason=1\n";
    const { virsh } = scriptedVirsh([withCounters(VAGRANT_DOMAIN, { "cpu.time": 1e9 }), shutOff, withCounters(VAGRANT_DOMAIN, { "cpu.time": 9e9 })]);
    const reader = new VmStatsReader(virsh, now);
    await reader.read([vm("a")]);
    clock += 5000;
    expect((await reader.read([vm("a")]))[0]).toEqual({ vmId: "a", status: "unavailable", reason: "domain proj1_default is shut off" });
    clock += 5000;
    // 8 s of CPU over 5 s would be 160 %: not a rate, the old baseline is gone.
    expect((await reader.read([vm("a")]))[0]).toMatchObject({ status: "ok", stats: { cpuPct: null } });
  });

  it("reports a VM without a domain, and every VM when libvirt is unreachable, as unavailable", async () => {
    const down = Object.assign(new Error("Command failed"), {
      stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
    });
    const { virsh } = scriptedVirsh([VAGRANT_DOMAIN, down]);
    const reader = new VmStatsReader(virsh, now);
    const first = await reader.read([vm("a"), vm("b", "other")]);
    expect(first[1]).toEqual({ vmId: "b", status: "unavailable", reason: "no libvirt domain other_default" });
    const second = await reader.read([vm("a"), vm("b", "other")]);
    for (const r of second) {
      expect(r).toMatchObject({ status: "unavailable" });
      expect(r.status === "unavailable" && r.reason).toBe(
        "libvirt unreachable: failed to connect to the hypervisor: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
      );
    }
  });

  it("matches a domain by the UUID Vagrant recorded, looking it up once", async () => {
    const folder = path.join(root, "renamed");
    mkdirSync(path.dirname(domainIdFile(folder)), { recursive: true });
    writeFileSync(domainIdFile(folder), "0b6c7c53-7d3e-4f6c-9a51-3a9f2b9c1e01\n");
    const { virsh, calls } = scriptedVirsh([VAGRANT_DOMAIN, VAGRANT_DOMAIN], { "0b6c7c53-7d3e-4f6c-9a51-3a9f2b9c1e01": "proj1_default" });
    const reader = new VmStatsReader(virsh, now);
    const ref = { id: "x", folder };
    expect((await reader.read([ref]))[0]).toMatchObject({ status: "ok", domain: "proj1_default" });
    clock += 5000;
    expect((await reader.read([ref]))[0]).toMatchObject({ status: "ok", domain: "proj1_default" });
    expect(calls.filter((c) => c[0] === "domname")).toHaveLength(1);
  });

  it("falls back to the domain name when the recorded UUID is unknown to libvirt", async () => {
    const folder = path.join(root, "proj1");
    mkdirSync(path.dirname(domainIdFile(folder)), { recursive: true });
    writeFileSync(domainIdFile(folder), "ffffffff-0000-0000-0000-000000000000\n");
    const { virsh } = scriptedVirsh([VAGRANT_DOMAIN]);
    const reader = new VmStatsReader(virsh, now);
    expect((await reader.read([{ id: "x", folder }]))[0]).toMatchObject({ status: "ok", domain: "proj1_default" });
  });

  it("makes no virsh call when there are no VMs", async () => {
    const { virsh, calls } = scriptedVirsh([]);
    expect(await new VmStatsReader(virsh, now).read([])).toEqual([]);
    expect(calls).toEqual([]);
  });
});
