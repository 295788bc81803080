// Against the real tools: virsh with libvirt's built-in test driver
// (test:///default, no daemon needed), QEMU for the driver probe, and the
// real vagrant when installed. Skipped per tool when the tool is absent.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { detectDriver, probeAccelerator } from "~/server/hypervisor/driver";
import { checkHostReadiness } from "~/server/hypervisor/readiness";
import { runVirsh } from "~/server/hypervisor/virsh";
import { domainIdFile, VmStatsReader } from "~/server/hypervisor/vm-stats";

const has = (bin: string) => {
  try {
    execFileSync("sh", ["-c", 'command -v "$0"', bin], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
const hasVirsh = has("virsh");
const hasQemu = has("qemu-system-x86_64");
const hasVagrant = has("vagrant");

const testEnv = (extra: Record<string, string> = {}) =>
  parseEnv({ DATA_DIR: mkdtempSync(path.join(tmpdir(), "hv-")), LIBVIRT_URI: "test:///default", ...extra });

// The test driver's one domain, always running, same UUID on every connection.
const TEST_DOMAIN = "test";
const TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f";

describe.skipIf(!hasVirsh)("domstats reader with the real virsh", () => {
  it("maps a VM to its domain by the recorded UUID and reports what libvirt reports", async () => {
    const e = testEnv();
    const folder = path.join(e.DATA_DIR, "vms", "someid");
    mkdirSync(path.dirname(domainIdFile(folder)), { recursive: true });
    writeFileSync(domainIdFile(folder), `${TEST_UUID}\n`);
    const reader = new VmStatsReader((args) => runVirsh(args, e));
    const [withUuid, missing] = await reader.read([
      { id: "someid", folder },
      { id: "gone", folder: path.join(e.DATA_DIR, "vms", "gone") },
    ]);
    // The test driver's domain runs but keeps no counters: not a row of zeros.
    expect(withUuid).toEqual({ vmId: "someid", status: "unavailable", reason: `domain ${TEST_DOMAIN} reports no statistics` });
    expect(missing).toEqual({ vmId: "gone", status: "unavailable", reason: "no libvirt domain gone_default" });
  });

  it("reports every VM unavailable, with libvirt's reason, when the URI does not answer", async () => {
    const e = testEnv({ LIBVIRT_URI: "qemu+unix:///system?socket=/nonexistent/libvirt-sock" });
    const reader = new VmStatsReader((args) => runVirsh(args, e));
    const [r] = await reader.read([{ id: "a", folder: "/nonexistent/a" }]);
    expect(r!.status).toBe("unavailable");
    expect(r!.status === "unavailable" && r!.reason).toMatch(/^libvirt unreachable: failed to connect to the hypervisor/);
  });
});

describe.skipIf(!hasQemu)("driver detection", () => {
  it("the probe really runs a guest under software emulation", async () => {
    const result = await probeAccelerator("tcg");
    expect(result).toMatchObject({ works: true });
    expect(result.detail).toMatch(/^a test guest ran under tcg in \d+ ms$/);
  });

  it("chooses kvm exactly when a guest runs under KVM, and says why", async () => {
    const kvm = await probeAccelerator("kvm");
    const choice = await detectDriver("auto", { probe: async () => kvm });
    expect(choice.driver).toBe(kvm.works ? "kvm" : "qemu");
    expect(choice.source).toBe("probe");
    expect(choice.reason).toContain(kvm.detail);
  }, 20_000);

  it("honours the VM_DRIVER setting without probing", async () => {
    let probed = false;
    const probe = async () => ((probed = true), { works: true, detail: "" });
    expect(await detectDriver("qemu", { probe })).toEqual({ driver: "qemu", source: "setting", reason: "set by VM_DRIVER=qemu" });
    expect(await detectDriver("kvm", { probe })).toMatchObject({ driver: "kvm", source: "setting" });
    expect(probed).toBe(false);
  });

  it("falls back to qemu without probing when there is no /dev/kvm", async () => {
    const choice = await detectDriver("auto", { kvmDevice: "/nonexistent/kvm", probe: async () => ({ works: true, detail: "" }) });
    expect(choice).toMatchObject({ driver: "qemu", source: "probe" });
    expect(choice.reason).toMatch(/\/nonexistent\/kvm is missing/);
  });
});

describe.skipIf(!hasVirsh)("host readiness", () => {
  const driver = async () => ({ driver: "qemu" as const, source: "setting" as const, reason: "set by VM_DRIVER=qemu" });

  it("names what is missing and how to fix it", async () => {
    const e = testEnv({ VAGRANT_BIN: "/nonexistent/vagrant", LIBVIRT_URI: "qemu+unix:///system?socket=/nonexistent/sock" });
    const r = await checkHostReadiness(e, { driver });
    expect(r.ready).toBe(false);
    const byName = Object.fromEntries(r.checks.map((c) => [c.component, c]));
    expect(byName.vagrant).toMatchObject({ ok: false, version: null });
    expect(byName.vagrant!.fix).toMatch(/apt-get install --no-install-recommends vagrant/);
    expect(byName.libvirt).toMatchObject({ ok: false });
    expect(byName.libvirt!.detail).toMatch(/failed to connect to the hypervisor/);
    expect(r.message).toMatch(/^VM actions are disabled: libvirt: failed to connect.*vagrant: .*Fix: start libvirtd/);
  });

  it.skipIf(!hasVagrant || !hasQemu)("is ready with the real tools and libvirt answering", async () => {
    const r = await checkHostReadiness(testEnv(), { driver });
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.ready).toBe(true);
    expect(r.checks.find((c) => c.component === "libvirt")!.version).toMatch(/^\d+\.\d+\.\d+ \(hypervisor TEST/);
    expect(r.message).toMatch(/^Ready: qemu \S+, libvirt .*vagrant-libvirt \S+; driver qemu \(set by VM_DRIVER=qemu\)\.$/);
  });
});
