// Every Vagrantfile shape the app generates passes the real `vagrant validate`
// (Debian's vagrant + vagrant-libvirt), and hostile strings stay inert.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { createVmInputSchema, specLimits } from "~/server/vms/spec";
import { renderVagrantfile, rubyString, type VagrantfileInput } from "~/server/vms/vagrantfile";

const VAGRANT = process.env.REAL_VAGRANT_BIN ?? "/usr/bin/vagrant";
const work = mkdtempSync(path.join(tmpdir(), "twarga-validate-"));
const vagrantEnv = { ...process.env, VAGRANT_HOME: path.join(work, "vagrant.d"), VAGRANT_CHECKPOINT_DISABLE: "1" };

function validate(vagrantfile: string) {
  const dir = mkdtempSync(path.join(work, "vm-"));
  writeFileSync(path.join(dir, "Vagrantfile"), vagrantfile);
  const r = spawnSync(VAGRANT, ["validate"], { cwd: dir, env: vagrantEnv, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, dir };
}

const limits = specLimits(parseEnv({}));
// A VM's own key as ensureVmKey makes it, and Vagrant's insecure key where Vagrant copies it (at start-up, before it validates).
const ownKey = path.join(work, "id_ed25519");
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", ownKey]);
const insecureKey = path.join(vagrantEnv.VAGRANT_HOME, "insecure_private_key");
const base: VagrantfileInput = {
  vmId: "ckvm00000000000000000001",
  boxName: "local/tiny",
  hostname: "web-1",
  cpus: 1,
  ramMb: 512,
  diskGb: 10,
  driver: "qemu",
  libvirtUri: "qemu:///system",
};

const shapes: Array<[string, VagrantfileInput]> = [
  ["smallest spec, qemu driver, debian guest", { ...base, osFamily: "debian", cpus: limits.cpus.min, ramMb: limits.ramMb.min, diskGb: limits.diskGb.min }],
  ["largest spec, kvm driver", { ...base, driver: "kvm", cpus: limits.cpus.max, ramMb: limits.ramMb.max, diskGb: limits.diskGb.max, hostname: "a".repeat(63) }],
  ["box without an org, one-letter hostname", { ...base, boxName: "debian12", hostname: "x" }],
  ["box name with dots and underscores", { ...base, boxName: "generic_org/debian-12.5_x64", hostname: "db-0-replica" }],
  [
    "own key then Vagrant's key, on the owner's network",
    { ...base, sshPrivateKeyPaths: [ownKey, insecureKey], network: { name: "twarga-10-231-3", cidr: "10.231.3.0/24" } },
  ],
  [
    "moved to its own key, last network of a /16 pool",
    { ...base, sshPrivateKeyPaths: [ownKey], network: { name: "twarga-10-231-255", cidr: "10.231.255.0/24" } },
  ],
];

describe.skipIf(!existsSync(VAGRANT))("vagrant validate on every generated shape", () => {
  it.each(shapes)(
    "%s",
    (_label, input) => {
      const r = validate(renderVagrantfile(input));
      expect(r.out).toContain("Vagrantfile validated successfully.");
      expect(r.code).toBe(0);
    },
    60_000,
  );

  it("catches a setting vagrant-libvirt does not know (so validate really checks the provider block)", () => {
    const broken = renderVagrantfile(base).replace("lv.cpus =", "lv.cpu_count_typo =");
    const r = validate(broken);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("The following settings shouldn't exist: cpu_count_typo");
  }, 60_000);

  it("checks the key paths (so a VM is never written with a key Vagrant cannot read)", () => {
    const missing = path.join(work, "no-such-key");
    const r = validate(renderVagrantfile({ ...base, sshPrivateKeyPaths: [ownKey, missing] }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(missing);
  }, 60_000);

  it("keeps a Ruby interpolation inert in a string that reaches the Vagrantfile", () => {
    const marker = path.join(work, "pwned");
    const hostile = `qemu:///system#{File.write('${marker}', 'x')}'; File.write('${marker}', 'y'); '`;
    const r = validate(renderVagrantfile({ ...base, libvirtUri: hostile }));
    // vagrant-libvirt rejects the URI, quoting it back verbatim: Ruby saw the
    // interpolation and the quotes as plain characters and ran nothing.
    expect(r.out).toContain(`invalid uri '${hostile}'`);
    expect(existsSync(marker)).toBe(false);
  }, 60_000);
});

describe.skipIf(!existsSync("/usr/bin/ruby"))("rubyString round-trips through Ruby", () => {
  it.each(["plain", "it's", "back\\slash", "#{`id`}", "\\'; system('id'); '", "trailing\\"])("%s", (value) => {
    const printed = execFileSync("/usr/bin/ruby", ["-e", `print(${rubyString(value)})`], { encoding: "utf8" });
    expect(printed).toBe(value);
  });
});

describe("refusals before anything is written", () => {
  it("refuses control characters and newlines", () => {
    expect(() => rubyString("a\nb")).toThrow(/control character/);
    expect(() => renderVagrantfile({ ...base, libvirtUri: "qemu:///system\nsystem('id')" })).toThrow(/control character/);
  });
  it.each(["web;rm -rf /", "../etc", "a'b", "a\nb", "#{x}", "$(id)", "Web", "-web", "web-", "a b", "", "a".repeat(64), "web.example"])(
    "refuses the hostname %j",
    (hostname) => {
      expect(() => renderVagrantfile({ ...base, hostname })).toThrow(/hostname/);
      expect(createVmInputSchema(limits).safeParse({ name: hostname, boxId: "b", cpus: 1, ramMb: 512, diskGb: 10 }).success).toBe(false);
    },
  );
  it.each(["local/tiny'", "../../box", "a/b/c", "box#{1}", "box name"])("refuses the box name %j", (boxName) => {
    expect(() => renderVagrantfile({ ...base, boxName })).toThrow(/box name/);
  });
  it("refuses non-integer and out-of-range sizes", () => {
    expect(() => renderVagrantfile({ ...base, cpus: 1.5 })).toThrow(/cpus/);
    expect(() => renderVagrantfile({ ...base, ramMb: 0 })).toThrow(/ramMb/);
    const schema = createVmInputSchema(limits);
    expect(schema.safeParse({ name: "ok", boxId: "b", cpus: limits.cpus.max + 1, ramMb: 512, diskGb: 10 }).success).toBe(false);
    expect(schema.safeParse({ name: "ok", boxId: "b", cpus: 1, ramMb: limits.ramMb.min - 1, diskGb: 10 }).success).toBe(false);
    expect(schema.safeParse({ name: "ok", boxId: "b", cpus: 1, ramMb: 512, diskGb: limits.diskGb.max + 1 }).success).toBe(false);
    expect(schema.safeParse({ name: "ok", boxId: "b", cpus: 1, ramMb: 512, diskGb: 10 }).success).toBe(true);
  });
  it("refuses relative key paths, odd network names and anything but a /24 network address", () => {
    expect(() => renderVagrantfile({ ...base, sshPrivateKeyPaths: ["id_ed25519"] })).toThrow(/absolute/);
    expect(() => renderVagrantfile({ ...base, sshPrivateKeyPaths: [] })).toThrow(/absolute/);
    for (const name of ["Twarga-1", "twarga 1", "twarga-1'", "-x", "a".repeat(41)])
      expect(() => renderVagrantfile({ ...base, network: { name, cidr: "10.231.1.0/24" } })).toThrow(/network name/);
    for (const cidr of ["10.231.1.0/16", "10.231.1.1/24", "10.231.256.0/24", "10.231.1.0", "10.231.1.0/24'"])
      expect(() => renderVagrantfile({ ...base, network: { name: "twarga-1", cidr } })).toThrow(/\/24/);
    // The lines only appear when asked for: a VM from before per-owner networks keeps vagrant-libvirt's default.
    expect(renderVagrantfile(base)).not.toContain("management_network");
    expect(renderVagrantfile(base)).not.toContain("private_key_path");
    const full = renderVagrantfile({ ...base, sshPrivateKeyPaths: ["/k/own", "/k/insecure"], network: { name: "twarga-10-231-7", cidr: "10.231.7.0/24" } });
    expect(full).toContain("  config.ssh.insert_key = false\n  config.ssh.private_key_path = ['/k/own', '/k/insecure']\n");
    expect(full).toContain(
      "    lv.management_network_name = 'twarga-10-231-7'\n    lv.management_network_address = '10.231.7.0/24'\n    lv.management_network_keep = true\n",
    );
  });

  it("writes nothing outside the folder it is given", () => {
    mkdirSync(path.join(work, "x"), { recursive: true });
    expect(renderVagrantfile(base)).not.toMatch(/\.\.\//);
    // A known OS family names Vagrant's guest plugin; anything else is left to detection.
    expect(renderVagrantfile({ ...base, osFamily: "debian" })).toContain("\n  config.vm.guest = :debian\n");
    expect(renderVagrantfile({ ...base, osFamily: "debian; system('id')" })).not.toContain("config.vm.guest");
    expect(renderVagrantfile(base)).not.toContain("config.vm.guest");
    // The hostname for the local boxes' boot-time unit (scripts/build-box.sh reads the same prefix).
    expect(renderVagrantfile(base)).toContain(`lv.sysinfo = { 'system' => { 'serial' => 'twarga-hostname=web-1' } }`);
  });
});
