import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DOMAIN_RUNNING, parseDomstats } from "~/server/hypervisor/domstats";

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, "../../fixtures/virsh", name), "utf8");

describe("parseDomstats (real libvirt 9.0 output)", () => {
  it("reads a vagrant-libvirt domain", () => {
    const [d, ...rest] = parseDomstats(fixture("domstats-vagrant-domain.txt"));
    expect(rest).toHaveLength(0);
    expect(d).toMatchObject({
      name: "proj1_default",
      state: DOMAIN_RUNNING,
      cpuTimeNs: 38364784000,
      vcpus: 1,
      balloonAvailableKiB: 466388,
      balloonUsableKiB: 413444,
      rssKiB: 1414132,
      blockReadBytes: 69281792,
      blockWriteBytes: 31936512,
      netRxBytes: 66170,
      netTxBytes: 83790,
    });
    expect(d!.fields.get("block.0.path")).toBe("/var/lib/libvirt/images/proj1_default.img");
    expect(d!.fields.get("dirtyrate.calc_mode")).toBe("page-sampling");
  });

  it("reads several domains of one call, including an inactive one with only its state", () => {
    const text = [
      fixture("domstats-plain-domain.txt"),
      fixture("domstats-vagrant-domain.txt"),
      "Domain: 'stopped_default'\n  state.state=5\n  state.reason=1\n",
    ].join("\n");
    const domains = parseDomstats(text);
    expect(domains.map((d) => d.name)).toEqual(["tiny1", "proj1_default", "stopped_default"]);
    expect(domains[0]).toMatchObject({ cpuTimeNs: 5063639000, blockWriteBytes: 0, netRxBytes: 2022, rssKiB: 284264 });
    expect(domains[2]).toMatchObject({ state: 5, cpuTimeNs: null, vcpus: null, rssKiB: null, blockReadBytes: null, netRxBytes: null });
  });

  it("sums counters over every disk and interface", () => {
    const text = [
      "Domain: 'two_default'",
      "  state.state=1",
      "  cpu.time=1",
      "  net.count=2",
      "  net.0.rx.bytes=100",
      "  net.0.tx.bytes=1",
      "  net.1.rx.bytes=50",
      "  net.1.tx.bytes=2",
      "  block.count=2",
      "  block.0.rd.bytes=10",
      "  block.0.wr.bytes=20",
      "  block.1.rd.bytes=5",
      "  block.1.wr.bytes=7",
    ].join("\n");
    expect(parseDomstats(text)[0]).toMatchObject({ netRxBytes: 150, netTxBytes: 3, blockReadBytes: 15, blockWriteBytes: 27 });
  });

  it("returns nothing for no domains and ignores lines outside a domain", () => {
    expect(parseDomstats("")).toEqual([]);
    expect(parseDomstats("error: something\n\n")).toEqual([]);
  });

  it("keeps a domain name with quotes and spaces intact", () => {
    expect(parseDomstats("Domain: 'my vm's_default'\n  state.state=1\n")[0]!.name).toBe("my vm's_default");
  });
});
