// The stand-in vagrant prints what the real one prints: its output is checked
// against the real fixtures (timestamps aside) and through the app's parser.
import { execa } from "execa";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { commandOutcome, parseMachineReadable, parseStatus } from "~/server/vms/machine-readable";
import { renderVagrantfile } from "~/server/vms/vagrantfile";

const FAKE = path.resolve(import.meta.dirname, "../../support/fake-vagrant/vagrant");
const FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/vagrant");
const withoutTimestamps = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((l) => l.replace(/^\d+,/, "T,"));

function project() {
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-fake-"));
  writeFileSync(
    path.join(dir, "Vagrantfile"),
    renderVagrantfile({
      vmId: "ckfake00000000000000000001",
      boxName: "local/tiny",
      hostname: "proj2",
      cpus: 1,
      ramMb: 512,
      diskGb: 2,
      driver: "qemu",
      libvirtUri: "qemu:///system",
    }),
  );
  return dir;
}
const vagrant = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  execa(FAKE, args, { cwd, reject: false, env: { FAKE_VAGRANT_CONTROL: "", ...env } });

describe("stand-in vagrant", () => {
  it("prints status exactly like the real tool, before and after up", async () => {
    const dir = project();
    expect(withoutTimestamps((await vagrant(dir, ["status", "--machine-readable"])).stdout)).toEqual(
      withoutTimestamps(readFileSync(path.join(FIXTURES, "status-notcreated.txt"), "utf8")),
    );
    const up = await vagrant(dir, ["up", "--provider=libvirt", "--machine-readable"]);
    expect(up.exitCode).toBe(0);
    expect(withoutTimestamps((await vagrant(dir, ["status", "--machine-readable"])).stdout)).toEqual(
      withoutTimestamps(readFileSync(path.join(FIXTURES, "status-running.txt"), "utf8")),
    );
    expect(withoutTimestamps((await vagrant(dir, ["halt", "--machine-readable"])).stdout)).toEqual(
      withoutTimestamps(readFileSync(path.join(FIXTURES, "halt-machine-readable.txt"), "utf8")),
    );
    expect(parseStatus((await vagrant(dir, ["status", "--machine-readable"])).stdout)?.state).toBe("shutoff");
  });

  it("prints up lines of the real shapes, in the real order", async () => {
    const dir = project();
    const fake = parseMachineReadable((await vagrant(dir, ["up", "--provider=libvirt", "--machine-readable"])).stdout);
    const real = parseMachineReadable(readFileSync(path.join(FIXTURES, "up-machine-readable.txt"), "utf8"));
    expect(fake.otherLines).toEqual([]);
    const realTexts = real.records.map((r) => `${r.target},${r.type},${r.data.join(",")}`);
    // Every line the stand-in prints is a line the real tool printed (names and numbers aside), in the same order.
    const normalise = (s: string) =>
      s
        .replace(/Name: +\S+/, "Name:")
        .replace(/Source: .*/, "Source:")
        .replace(/images\/\S+/, "images/")
        .replace(/\d+(\.\d+)*/g, "N");
    const realNorm = realTexts.map(normalise);
    let cursor = 0;
    for (const r of fake.records) {
      const idx = realNorm.indexOf(normalise(`${r.target},${r.type},${r.data.join(",")}`), cursor);
      expect(idx, `${r.type} ${r.data.join(",")}`).toBeGreaterThanOrEqual(cursor);
      cursor = idx;
    }
  });

  it("fails like the real libvirt failure: stack trace on stderr, no error-exit, exit 1", async () => {
    const dir = project();
    const r = await vagrant(dir, ["up", "--provider=libvirt", "--machine-readable"], { FAKE_VAGRANT_FAIL: "up:libvirt" });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).not.toContain("error-exit");
    const lines = readFileSync(path.join(FIXTURES, "up-kvm-failure-machine-readable.txt"), "utf8").split("\n");
    const firstTrace = lines.findIndex((l) => l.startsWith("/usr/lib/ruby"));
    const real = commandOutcome({ exitCode: 1, stdout: lines.slice(0, firstTrace).join("\n"), stderr: lines.slice(firstTrace).join("\n") });
    const fake = commandOutcome({ exitCode: r.exitCode ?? null, stdout: r.stdout, stderr: r.stderr });
    const strip = (s: string | null) => s?.replace(/monitor: .*qemu-system/, "monitor: qemu-system");
    expect(strip(fake.error)).toBe(strip(real.error));
    expect(parseStatus((await vagrant(dir, ["status", "--machine-readable"])).stdout)?.state).toBe("not_created");
  });

  it("answers a missing Vagrantfile with an error-exit line", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "twarga-fake-"));
    const r = await vagrant(dir, ["status", "--machine-readable"]);
    expect(r.exitCode).toBe(1);
    expect(commandOutcome({ exitCode: 1, stdout: r.stdout, stderr: r.stderr }).error).toContain("A Vagrant environment or target machine is required");
  });
});
