// scripts/check-box-image.sh on real ext4 images made with mkfs.ext4 -d, as
// scripts/build-box.sh makes the box's root: the files other users' daemons
// read inside the guest must be readable by them.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const SCRIPT = path.resolve(import.meta.dirname, "../../../scripts/check-box-image.sh");
const FILES = [
  "etc/systemd/network/20-eth0.network",
  "etc/hosts",
  "etc/hostname",
  "etc/passwd",
  "etc/group",
  "etc/ssh/sshd_config",
  "etc/ssh/sshd_config.d/vagrant.conf",
  "usr/local/sbin/hostname-from-smbios",
  "usr/lib/modules/6.1.0-test-amd64/modules.dep",
  "usr/lib/modules/6.1.0-test-amd64/modules.alias",
];

async function image(modes: Record<string, number> = {}): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-boximg-"));
  const root = path.join(dir, "root");
  for (const f of FILES) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(root, f), "x\n", { mode: 0o644 });
  }
  for (const [p, mode] of Object.entries(modes)) chmodSync(path.join(root, p), mode);
  const img = path.join(dir, "root.ext4");
  await execa("truncate", ["-s", "16M", img]);
  await execa("mkfs.ext4", ["-q", "-d", root, img]);
  return img;
}

describe("scripts/check-box-image.sh", () => {
  it("passes an image whose guest files are readable by other users", async () => {
    const r = await execa("bash", [SCRIPT, await image()], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/ok: 10 files/);
  });

  it("fails the image a umask of 077 makes, naming each file and folder", async () => {
    const r = await execa(
      "bash",
      [
        SCRIPT,
        await image({
          "etc/systemd/network/20-eth0.network": 0o600,
          "etc/hosts": 0o600,
          "usr/lib/modules/6.1.0-test-amd64/modules.dep": 0o600,
          "etc/ssh/sshd_config.d": 0o700,
        }),
      ],
      { reject: false },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("not readable by other users: /etc/systemd/network/20-eth0.network (mode 0600)");
    expect(r.stderr).toContain("not readable by other users: /etc/hosts (mode 0600)");
    expect(r.stderr).toContain("not readable by other users: /usr/lib/modules/6.1.0-test-amd64/modules.dep (mode 0600)");
    expect(r.stderr).toContain("folder not open to other users: /etc/ssh/sshd_config.d (mode 0700)");
  });

  it("fails an image that lacks the network configuration", async () => {
    const img = await image();
    await execa("debugfs", ["-w", "-R", "rm /etc/systemd/network/20-eth0.network", img]);
    const r = await execa("bash", [SCRIPT, img], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("missing: /etc/systemd/network/20-eth0.network");
  });
});
