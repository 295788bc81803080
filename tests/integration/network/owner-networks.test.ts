// One libvirt network per owner: the /24 arithmetic, the definition libvirt
// accepts (the real virsh against libvirt's built-in test driver, whose state
// lives as long as one virsh invocation, which is how ensureLibvirtNetwork
// runs its whole sequence), allocation under concurrency, pool exhaustion,
// and release when the owner's last VM is destroyed.
import { makeUser, noRequest, testDbProvider, tinyBox } from "../vms/harness";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { adminHealth, defaultProbes } from "~/server/admin/health";
import { parseEnv } from "~/server/env";
import { vmFolder } from "~/server/folders";
import { runVirsh } from "~/server/hypervisor/virsh";
import {
  allocateOwnerNetwork,
  ensureLibvirtNetwork,
  ensureOwnerNetwork,
  networkPoolUsage,
  ownerNetworkSpec,
  ownerNetworkXml,
  releaseOwnerNetworkIfUnused,
  removeLibvirtNetwork,
} from "~/server/network/owner-networks";
import { createVm, requestVmOperation } from "~/server/vms/lifecycle";
import { VmJobRunner } from "~/server/vms/runner";

let t: TestDb;
let boxId: string;
let n = 0;
const e = parseEnv(process.env);
const withPool = (pool: string) => parseEnv({ ...process.env, VM_NETWORK_POOL: pool });
const user = () => makeUser(t.db, `net${++n}@example.com`);

beforeAll(async () => {
  t = await createTestDb({ provider: testDbProvider });
  boxId = (await tinyBox(t.db)).id;
});
afterAll(async () => t.close());

describe("the pool's /24s", () => {
  it("numbers networks from the pool's start, named after their /24, with bridges within the kernel's 15 characters", () => {
    expect(ownerNetworkSpec(0, e)).toEqual({
      name: "twarga-10-231-0",
      bridge: "virbr-tw0ae700",
      index: 0,
      cidr: "10.231.0.0/24",
      gateway: "10.231.0.1",
      dhcpStart: "10.231.0.2",
      dhcpEnd: "10.231.0.254",
    });
    expect(ownerNetworkSpec(255, e)).toMatchObject({ name: "twarga-10-231-255", bridge: "virbr-tw0ae7ff", cidr: "10.231.255.0/24" });
    expect(ownerNetworkSpec(3, withPool("172.16.4.0/22"))).toMatchObject({
      name: "twarga-172-16-7",
      bridge: "virbr-twac1007",
      cidr: "172.16.7.0/24",
      gateway: "172.16.7.1",
    });
    // Another installation's pool on the same host: other names and bridges.
    expect(ownerNetworkSpec(0, withPool("10.232.0.0/16"))).toMatchObject({ name: "twarga-10-232-0", bridge: "virbr-tw0ae800" });
    expect(() => ownerNetworkSpec(256, e)).toThrow(/outside VM_NETWORK_POOL 10\.231\.0\.0\/16 \(256 networks\)/);
    expect(() => ownerNetworkSpec(4, withPool("172.16.4.0/22"))).toThrow(/outside/);
    for (const i of [0, 9, 99, 255]) expect(ownerNetworkSpec(i, e).bridge.length).toBeLessThanOrEqual(15);
    expect(ownerNetworkSpec(0, withPool("192.168.255.0/24")).bridge).toBe("virbr-twc0a8ff");
  });

  it("refuses a pool that is not a private /16 to /24", () => {
    expect(() => withPool("8.8.0.0/16")).toThrow(/VM_NETWORK_POOL: must be a private range/);
    expect(() => withPool("10.0.0.0/8")).toThrow(/VM_NETWORK_POOL: must be a block of \/16 to \/24/);
    expect(() => withPool("10.231.0.0/25")).toThrow(/VM_NETWORK_POOL: must be a block of \/16 to \/24/);
    expect(() => withPool("10.231.1.0/16")).toThrow(/VM_NETWORK_POOL: must start at its first address: 10\.231\.0\.0\/16/);
    expect(() => withPool("192.168.0.0/16")).toThrow(/VM_NETWORK_POOL: overlaps 192\.168\.121\.0\/24/);
    expect(() => withPool("10.231.0.0")).toThrow(/VM_NETWORK_POOL: must be an IPv4 block/);
    expect(withPool("192.168.200.0/24").VM_NETWORK_POOL).toEqual({ cidr: "192.168.200.0/24", base: 0xc0a8c800, prefix: 24, size: 1 });
  });
});

describe("in libvirt (the real virsh, libvirt's test driver)", () => {
  it("defines, starts and marks for autostart a NAT network on our bridge with DHCP for the rest of the /24", async () => {
    const spec = ownerNetworkSpec(7, e);
    await ensureLibvirtNetwork(spec, e);
    // The same definition, read back as libvirt stored it.
    const dir = mkdtempSync(path.join(tmpdir(), "twarga-net-test-"));
    writeFileSync(path.join(dir, "n.xml"), ownerNetworkXml(spec));
    const n7 = spec.name;
    const out = await runVirsh([`net-define '${path.join(dir, "n.xml")}'; net-start ${n7}; net-autostart ${n7}; net-info ${n7}; net-dumpxml ${n7}`], e);
    expect(out).toMatch(/^Active:\s+yes$/m);
    expect(out).toMatch(/^Autostart:\s+yes$/m);
    expect(out).toMatch(/^Bridge:\s+virbr-tw0ae707$/m);
    expect(out).toContain("<name>twarga-10-231-7</name>");
    expect(out).toContain("<forward mode='nat'");
    expect(out).toContain("<ip address='10.231.7.1' netmask='255.255.255.0'>");
    expect(out).toContain("<range start='10.231.7.2' end='10.231.7.254'/>");
  });

  it("refuses a network of the same name with another definition, saying how to fix it", async () => {
    // The test driver always has a network called "default" (NAT on virbr0, 192.168.122.1).
    const clash = { ...ownerNetworkSpec(1, e), name: "default" };
    await expect(ensureLibvirtNetwork(clash, e)).rejects.toThrow(
      "The libvirt network default already exists with another definition (forward nat, bridge virbr0, address 192.168.122.1/255.255.255.0); " +
        "the app expects NAT on virbr-tw0ae701 with 10.231.1.1/24. Remove it (virsh net-destroy default; virsh net-undefine default) or change VM_NETWORK_POOL.",
    );
  });

  it("names the network and libvirt's reason when virsh fails", async () => {
    const broken = { ...e, LIBVIRT_URI: "test:///nonexistent/file.xml" };
    await expect(ensureLibvirtNetwork(ownerNetworkSpec(2, e), broken)).rejects.toThrow(
      /^Could not create the VM network twarga-10-231-2 \(10\.231\.2\.0\/24\): .+/,
    );
  });

  it("stops and undefines a network, and treats one that is already gone as removed", async () => {
    expect(await removeLibvirtNetwork("default", e)).toBe(true);
    expect(await removeLibvirtNetwork("twarga-10-231-200", e)).toBe(true);
  });

  it("keeps a network that guest interfaces are still plugged into", async () => {
    // The test driver does not count connections, so a stand-in virsh answers the dump as libvirt does for a
    // running network with two guests plugged in, and fails anything else (a destroy would be a bug).
    const dir = mkdtempSync(path.join(tmpdir(), "twarga-virsh-"));
    const virsh = path.join(dir, "virsh");
    writeFileSync(
      virsh,
      `#!/bin/sh\ncase "$3" in net-dumpxml) echo "<network connections='2'>"; echo "  <name>$4</name>"; echo "</network>";; *) echo "error: unexpected: $*" >&2; exit 1;; esac\n`,
      { mode: 0o755 },
    );
    expect(await removeLibvirtNetwork("twarga-10-231-5", { ...e, VIRSH_BIN: virsh })).toBe(false);
  });
});

describe("allocation", () => {
  it("gives an owner one network however many first launches race, and owners different ones", async () => {
    const alice = await user();
    const rows = await Promise.all(Array.from({ length: 8 }, () => allocateOwnerNetwork(t.db, alice.id, e)));
    expect(new Set(rows.map((r) => r.id)).size).toBe(1);
    const others = await Promise.all(Array.from({ length: 6 }, async () => allocateOwnerNetwork(t.db, (await user()).id, e)));
    const subnets = [rows[0]!.subnet, ...others.map((r) => r.subnet)];
    expect(new Set(subnets).size).toBe(7);
    for (const r of [rows[0]!, ...others]) expect(r.name).toBe(`twarga-10-231-${r.subnet}`);
    // Concurrent launches through the app: still one network.
    const bob = await user();
    await Promise.all([1, 2, 3].map((i) => createVm(t.db, bob, { name: `race-${i}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, e)));
    expect(await t.db.ownerNetwork.count({ where: { userId: bob.id } })).toBe(1);
  });

  it("makes the owner's network ready in libvirt, the same one each time", async () => {
    const erin = await user();
    const [a, b] = await Promise.all([ensureOwnerNetwork(t.db, erin.id, e), ensureOwnerNetwork(t.db, erin.id, e)]);
    const row = await t.db.ownerNetwork.findUniqueOrThrow({ where: { userId: erin.id } });
    expect(a).toEqual(ownerNetworkSpec(row.subnet, e));
    expect(b).toEqual(a);
  });

  it("refuses a launch when the pool is used up, naming the setting, and leaves nothing behind", async () => {
    const tiny = withPool("10.99.0.0/24");
    const fresh = await createTestDb({ provider: testDbProvider });
    try {
      const freshBox = (await tinyBox(fresh.db)).id;
      const first = await makeUser(fresh.db, "first@example.com");
      const second = await makeUser(fresh.db, "second@example.com");
      await createVm(fresh.db, first, { name: "has-it", boxId: freshBox, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, tiny);
      await expect(createVm(fresh.db, second, { name: "wants-it", boxId: freshBox, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, tiny)).rejects.toMatchObject({
        code: "CONFLICT",
        message:
          "No VM network is free: all 1 networks of the pool 10.99.0.0/24 belong to other users. " +
          "A network comes back when its owner destroys their last VM; an admin can widen VM_NETWORK_POOL.",
      });
      expect(await fresh.db.vm.count({ where: { ownerId: second.id } })).toBe(0);
      expect(await networkPoolUsage(fresh.db, tiny)).toEqual({ pool: "10.99.0.0/24", size: 1, used: 1, free: 0 });
      // The owner's own second VM is on the network they already have.
      await createVm(fresh.db, first, { name: "also", boxId: freshBox, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest, tiny);
    } finally {
      await fresh.close();
    }
  });
});

describe("through the VM lifecycle", () => {
  it("puts a new VM on its owner's network, keeps it while the owner has a VM, and frees it with the last one", async () => {
    const runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
    try {
      const carol = await user();
      const one = (await createVm(t.db, carol, { name: "one", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest)).vm;
      const two = (await createVm(t.db, carol, { name: "two", boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest)).vm;
      await runner.idle();
      const net = await t.db.ownerNetwork.findUniqueOrThrow({ where: { userId: carol.id } });
      const spec = ownerNetworkSpec(net.subnet, e);
      for (const vm of [one, two]) {
        const row = await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
        expect(row).toMatchObject({ state: "RUNNING", networkName: spec.name });
        const vagrantfile = readFileSync(path.join(vmFolder(vm.id), "Vagrantfile"), "utf8");
        expect(vagrantfile).toContain(
          `lv.management_network_name = '${spec.name}'\n    lv.management_network_address = '${spec.cidr}'\n    lv.management_network_keep = true`,
        );
        // The stand-in guest sits on a loopback address mirroring the /24.
        expect(row.ipAddress!.split(".").slice(1, 3)).toEqual(spec.cidr.split(".").slice(1, 3));
      }
      await requestVmOperation(t.db, carol, one.id, "destroy", { confirmName: "one" }, noRequest);
      await runner.idle();
      expect(await t.db.ownerNetwork.count({ where: { userId: carol.id } })).toBe(1);
      expect(await releaseOwnerNetworkIfUnused(t.db, carol.id, e)).toBe("in-use");
      await requestVmOperation(t.db, carol, two.id, "destroy", { confirmName: "two" }, noRequest);
      await runner.idle();
      expect(await t.db.ownerNetwork.count({ where: { userId: carol.id } })).toBe(0);
      expect(await releaseOwnerNetworkIfUnused(t.db, carol.id, e)).toBe("none");
      // The /24 is free for the next owner who needs one.
      const dave = await user();
      expect((await allocateOwnerNetwork(t.db, dave.id, e)).subnet).toBeLessThanOrEqual(net.subnet);
    } finally {
      await runner.stop();
    }
  });

  it("reports the pool, and the forwarded ports, on the admin health page", async () => {
    const usage = await networkPoolUsage(t.db, e);
    expect(usage.pool).toBe("10.231.0.0/16");
    expect(usage.size).toBe(256);
    expect(usage.used).toBe(await t.db.ownerNetwork.count());
    expect(usage.free).toBe(256 - usage.used);
    const admin = await makeUser(t.db, `admin${++n}@example.com`, "ADMIN");
    const probes = { ...defaultProbes, host: () => Promise.reject(new Error("not probed here")) };
    const h = await adminHealth(t.db, admin, probes, e);
    expect(h.networkPool).toEqual({
      ...usage,
      sharedNetworkVms: await t.db.vm.count({ where: { state: { not: "DESTROYED" }, networkName: null } }),
      error: null,
    });
    const held = await t.db.vm.count({ where: { hostSshPort: { not: null } } });
    expect(h.sshPorts).toEqual({ range: "22000-22999", size: 1000, used: held, free: 1000 - held, error: null });
  });
});
