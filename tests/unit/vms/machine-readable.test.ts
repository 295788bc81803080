import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  commandOutcome,
  decodeField,
  humanText,
  parseMachineReadable,
  parseMachineReadableLine,
  parseSshConfig,
  parseStatus,
} from "~/server/vms/machine-readable";
import { advanceProgress, type Progress } from "~/server/vms/progress";

const FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/vagrant");
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), "utf8");

describe("machine-readable lines", () => {
  it("decodes escaped commas and newlines", () => {
    expect(decodeField("a%!(VAGRANT_COMMA) b\\nc")).toBe("a, b\nc");
  });

  it("parses a line with an empty target and escaped data", () => {
    const r = parseMachineReadableLine("1795825229,,ui,info,Current machine states:\\n\\ndefault   not created (libvirt)");
    expect(r).toEqual({ timestamp: 1795825229, target: "", type: "ui", data: ["info", "Current machine states:\n\ndefault   not created (libvirt)"] });
  });

  it("returns null for stack trace lines", () => {
    expect(parseMachineReadableLine("\tfrom /usr/lib/ruby/vendor_ruby/fog/libvirt/requests/compute/vm_action.rb:7:in `vm_action'")).toBeNull();
  });
});

describe("status fixtures", () => {
  it("reads not_created", () => {
    expect(parseStatus(fixture("status-notcreated.txt"))).toEqual({
      state: "not_created",
      short: "not created",
      long: "The Libvirt domain is not created. Run `vagrant up` to create it.",
      provider: "libvirt",
    });
  });
  it("reads running, with commas and newlines restored", () => {
    const s = parseStatus(fixture("status-running.txt"));
    expect(s?.state).toBe("running");
    expect(s?.long).toBe(
      "The Libvirt domain is running. To stop this machine, you can run\n`vagrant halt`. To destroy the machine, you can run `vagrant destroy`.",
    );
  });
  it("returns null without a state record", () => {
    expect(parseStatus("garbage\n")).toBeNull();
  });
});

describe("up fixture (success)", () => {
  const text = fixture("up-machine-readable.txt");
  it("parses every line as a record", () => {
    const { records, otherLines } = parseMachineReadable(text);
    expect(otherLines).toEqual([]);
    expect(records.length).toBe(text.trim().split("\n").length);
    expect(records.at(-1)).toMatchObject({ type: "action", data: ["up", "end"] });
    const image = records.find((r) => humanText(r)?.includes("Image(vda)"));
    expect(humanText(image!)).toContain("proj2_default.img, virtio, 2G");
  });
  it("is a success with exit code 0", () => {
    expect(commandOutcome({ exitCode: 0, stdout: text, stderr: "" })).toEqual({ ok: true, error: null });
  });
  it("drives progress forward to the boot milestone", () => {
    let p: Progress = { step: null, progress: 0 };
    const seen: number[] = [];
    for (const r of parseMachineReadable(text).records) {
      p = advanceProgress("CREATE", p, r);
      seen.push(p.progress);
    }
    expect(p).toEqual({ step: "Machine booted and ready!", progress: 95 });
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});

describe("up fixture (libvirt failure: no error-exit, stack trace, exit 1)", () => {
  const text = fixture("up-kvm-failure-machine-readable.txt");
  const lines = text.split("\n");
  const firstTrace = lines.findIndex((l) => l.startsWith("/usr/lib/ruby"));
  const stdout = lines.slice(0, firstTrace).join("\n");
  const stderr = lines.slice(firstTrace).join("\n");

  it("separates the records from the stack trace", () => {
    const { records, otherLines } = parseMachineReadable(text);
    expect(records.some((r) => r.type === "error-exit")).toBe(false);
    expect(otherLines[0]).toMatch(/^\/usr\/lib\/ruby/);
    expect(otherLines.length).toBeGreaterThan(50);
  });
  it("is a failure with the exception message", () => {
    const outcome = commandOutcome({ exitCode: 1, stdout, stderr });
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/^Call to virDomainCreateWithFlags failed: .*failed to set MSR 0x10a to 0x69 \(Libvirt::Error\)$/);
  });
  it("is a failure even when the exit code alone says so", () => {
    expect(commandOutcome({ exitCode: 1, stdout, stderr: "" }).error).toBe("vagrant exited with code 1");
  });
});

describe("error-exit records", () => {
  it("take the message from the record", () => {
    const stdout = "1795825229,,error-exit,Vagrant::Errors::VagrantfileSyntaxError,There is a syntax error%!(VAGRANT_COMMA) see below.\\nline 3";
    expect(commandOutcome({ exitCode: 1, stdout, stderr: "" })).toEqual({ ok: false, error: "There is a syntax error, see below.\nline 3" });
  });
});

describe("halt fixture", () => {
  it("parses and reports the graceful shutdown step", () => {
    const { records } = parseMachineReadable(fixture("halt-machine-readable.txt"));
    expect(records.map((r) => r.type)).toEqual(["metadata", "action", "ui", "action"]);
    let p: Progress = { step: null, progress: 0 };
    for (const r of records) p = advanceProgress("STOP", p, r);
    expect(p).toEqual({ step: "Attempting graceful shutdown of VM...", progress: 40 });
  });
});

describe("ssh-config fixture", () => {
  it("reads host, user, port and key", () => {
    expect(parseSshConfig(fixture("ssh-config.txt"))).toEqual({
      host: "default",
      hostName: "192.168.121.132",
      user: "vagrant",
      port: 22,
      identityFile: "/var/lib/twarga/vagrant.d/insecure_private_key",
    });
  });
  it("returns null without an address", () => {
    expect(parseSshConfig("Host default\n  User vagrant\n")).toBeNull();
  });
});
