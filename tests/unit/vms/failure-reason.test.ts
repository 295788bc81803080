import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { failureReason } from "~/server/vms/failure-reason";

// Real captured output of Vagrant 2.3.4 + vagrant-libvirt 0.11.2 (see tests/fixtures/vagrant/README.md).
const FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/vagrant");
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), "utf8");

/** The kvm-failure capture holds stdout and stderr together: the stack trace is what went to stderr. */
function splitStreams(text: string) {
  const lines = text.split("\n");
  const firstTrace = lines.findIndex((l) => /^\S+\.rb:\d+:in `/.test(l));
  return { stdout: lines.slice(0, firstTrace).join("\n"), stderr: lines.slice(firstTrace).join("\n") };
}

describe("failureReason on real Vagrant output", () => {
  it("names a box that is not installed, and keeps Vagrant's reason after the sentence", () => {
    const r = failureReason({ exitCode: 1, stdout: fixture("up-box-missing-machine-readable.txt"), stderr: "" });
    expect(r.kind).toBe("box-missing");
    expect(r.message).toMatch(/^The box local\/absent is not installed on this host/);
    expect(r.detail).toMatch(/^The box 'local\/absent' could not be found or/);
    expect(r.message).toContain("Vagrant said: The box 'local/absent' could not be found or");
  });

  it("says libvirt could not be reached", () => {
    const r = failureReason({ exitCode: 1, stdout: fixture("up-libvirt-unreachable-machine-readable.txt"), stderr: "" });
    expect(r.kind).toBe("libvirt-unreachable");
    expect(r.message).toMatch(/^The host's virtualisation service \(libvirt\) could not be reached/);
    expect(r.message).toContain("Vagrant said: Error while connecting to Libvirt");
  });

  it("says the hypervisor refused the VM for the KVM failure (no error-exit line, a stack trace on stderr)", () => {
    const r = failureReason({ exitCode: 1, ...splitStreams(fixture("up-kvm-failure-machine-readable.txt")) });
    expect(r.kind).toBe("hypervisor");
    expect(r.message).toMatch(/^The host's hypervisor refused to start the VM/);
    expect(r.detail).toMatch(/^Call to virDomainCreateWithFlags failed/);
  });

  it("never starts with Vagrant's config dump: a timed-out boot stuck before an address says so", () => {
    // The successful boot's output cut where a guest that never asks DHCP for an address stays.
    const up = fixture("up-machine-readable.txt");
    const stuck = up
      .split("\n")
      .filter((l, i, all) => i <= all.findIndex((x) => x.includes("Waiting for domain to get an IP address")))
      .join("\n");
    expect(stuck).toContain("-- Name:");
    const r = failureReason({ exitCode: null, signal: "SIGTERM", stdout: stuck, stderr: "", timedOut: true, limitMs: 900_000 });
    expect(r.kind).toBe("timeout-address");
    expect(r.message).toBe("Timed out waiting for the VM to get an address (900 s): the guest did not finish booting. It was stopped.");
  });

  it("a timeout after the address is a plain timeout", () => {
    const r = failureReason({ exitCode: null, signal: "SIGKILL", stdout: fixture("up-machine-readable.txt"), stderr: "", timedOut: true, limitMs: 60_000 });
    expect(r.kind).toBe("timeout");
    expect(r.message).toBe("The operation ran past its time limit (60 s) and was stopped.");
  });
});

describe("failureReason on host errors inside Vagrant's output", () => {
  // The error-exit line shape is the one in the captured fixtures; the messages are the C library's.
  const errorExit = (klass: string, message: string) =>
    `1796052649,,error-exit,${klass},${message.replaceAll(",", "%!(VAGRANT_COMMA)").replaceAll("\n", "\\n")}\n`;

  it("out of disk", () => {
    const r = failureReason({
      exitCode: 1,
      stdout: errorExit("Errno::ENOSPC", "No space left on device @ io_write - /var/lib/libvirt/images/x.img"),
      stderr: "",
    });
    expect(r.kind).toBe("out-of-disk");
    expect(r.message).toMatch(/^The host ran out of disk space/);
  });

  it("a storage quota", () => {
    const r = failureReason({
      exitCode: 1,
      stdout: errorExit("Errno::EDQUOT", "Disk quota exceeded @ rb_sysopen - /var/lib/twarga/vms/x/.vagrant/lock"),
      stderr: "",
    });
    expect(r.kind).toBe("quota");
  });

  it("an unknown failure falls back to Vagrant's reason, named as such", () => {
    const r = failureReason({
      exitCode: 1,
      stdout: errorExit("Vagrant::Errors::VagrantError", "The fake vagrant was told to fail.\nSee its control file."),
      stderr: "",
    });
    expect(r).toMatchObject({ kind: "other", message: "Vagrant failed: The fake vagrant was told to fail.\nSee its control file." });
  });

  it("the stand-in's SSH refusal reads as a login failure", () => {
    const r = failureReason({
      exitCode: 1,
      stdout: errorExit("Vagrant::Errors::SSHAuthenticationFailed", "SSH authentication failed! This is typically caused by the public/private\nkeypair"),
      stderr: "",
    });
    expect(r.kind).toBe("ssh-auth");
  });
});
