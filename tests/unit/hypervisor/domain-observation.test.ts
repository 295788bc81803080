// The sampler's one `virsh domstats --raw` call per tick, read for the domains'
// states too: present (with libvirt's state and reason), missing, or nothing
// known at all when virsh itself fails.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { VmStatsReader } from "~/server/hypervisor/vm-stats";

const VAGRANT_DOMAIN = readFileSync(path.join(import.meta.dirname, "../../fixtures/virsh/domstats-vagrant-domain.txt"), "utf8");
// What libvirt 9 prints for an inactive domain: its state lines only.
const SHUT_OFF = "Domain: 'proj2_default'\n  state.state=5\n  state.reason=1\n";

describe("VmStatsReader.observe", () => {
  it("reports every listed domain's state from the one call, and stats only for the VMs that want them", async () => {
    const calls: string[][] = [];
    const reader = new VmStatsReader(async (args) => {
      calls.push(args);
      return VAGRANT_DOMAIN + SHUT_OFF;
    });
    const tick = await reader.observe(
      [
        { id: "vm1", folder: "/srv/vms/proj1", domainName: "proj1_default" },
        { id: "vm2", folder: "/srv/vms/proj2", domainName: "proj2_default", stateOnly: true },
        { id: "vm3", folder: "/srv/vms/proj3", domainName: "proj3_default", stateOnly: true },
      ],
      1_000,
    );
    expect(calls).toEqual([["domstats", "--raw"]]);
    expect(tick.libvirtUp).toBe(true);
    expect(tick.atMs).toBe(1_000);
    expect(tick.domains).toEqual([
      { vmId: "vm1", domain: "proj1_default", present: true, state: 1, reason: 1 },
      { vmId: "vm2", domain: "proj2_default", present: true, state: 5, reason: 1 },
      { vmId: "vm3", domain: "proj3_default", present: false },
    ]);
    // The state-only VMs get no stats and no "unavailable" entry.
    expect(tick.results.map((r) => [r.vmId, r.status])).toEqual([["vm1", "ok"]]);
  });

  it("says libvirt did not answer, with no domain called missing", async () => {
    const reader = new VmStatsReader(async () => {
      throw Object.assign(new Error("failed"), { stderr: "error: failed to connect to the hypervisor" });
    });
    const tick = await reader.observe(
      [
        { id: "vm1", folder: "/srv/vms/proj1", domainName: "proj1_default" },
        { id: "vm2", folder: "/srv/vms/proj2", domainName: "proj2_default", stateOnly: true },
      ],
      1_000,
    );
    expect(tick).toEqual({
      atMs: 1_000,
      libvirtUp: false,
      domains: [],
      results: [{ vmId: "vm1", status: "unavailable", reason: "libvirt unreachable: failed to connect to the hypervisor" }],
    });
  });
});
