// Which libvirt domain type VMs use: "kvm" (hardware virtualization) where it
// really runs a guest, "qemu" (software emulation, TCG) otherwise. A present
// /dev/kvm proves nothing: on some hosts the module loads without vmx/svm and
// guests hang in early boot or QEMU aborts ("failed to set MSR 0x10a"). So the
// decision rests on a probe: QEMU boots a 512-byte boot sector under KVM that
// writes to the isa-debug-exit port; only that exit code means KVM works.
import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { childEnv } from "../child-env";
import { env, type Env } from "../env";
import { commandFailure } from "./virsh";

export type VmDriver = "kvm" | "qemu";

export interface DriverChoice {
  driver: VmDriver;
  /** "setting" when VM_DRIVER chose it, "probe" when detected. */
  source: "setting" | "probe";
  /** Why, in a sentence for the admin health view. */
  reason: string;
}

export interface KvmProbeResult {
  works: boolean;
  detail: string;
}

export interface DriverDetectionDeps {
  kvmDevice?: string;
  cpuinfoPath?: string;
  probe?: () => Promise<KvmProbeResult>;
}

export const QEMU_BIN = "qemu-system-x86_64";
const PROBE_TIMEOUT_MS = 8_000;
/** QEMU exits with (value << 1) | 1 when the guest writes `value` to isa-debug-exit. */
const PROBE_EXIT_VALUE = 0x31;
const PROBE_EXIT_CODE = (PROBE_EXIT_VALUE << 1) | 1;

/** mov al, 0x31; out 0xf4, al; hlt; jmp $-1 — then the 0x55AA boot signature. */
export function probeBootSector(): Buffer {
  const sector = Buffer.alloc(512);
  Buffer.from([0xb0, PROBE_EXIT_VALUE, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]).copy(sector);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** Boots the probe sector under the given accelerator; true only if the guest ran it. */
export async function probeAccelerator(accel: "kvm" | "tcg", qemuBin = QEMU_BIN): Promise<KvmProbeResult> {
  const dir = await mkdtemp(path.join(tmpdir(), "twarga-kvm-probe-"));
  try {
    const image = path.join(dir, "probe.img");
    await writeFile(image, probeBootSector());
    const started = Date.now();
    const result = await execa(
      qemuBin,
      // -cpu host: what libvirt's kvm domains use (host-model), and where a broken KVM fails.
      [
        "-accel",
        accel,
        ...(accel === "kvm" ? ["-cpu", "host"] : []),
        "-machine",
        "pc",
        "-m",
        "16",
        "-display",
        "none",
        "-nodefaults",
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-drive",
        `file=${image},format=raw,if=ide`,
      ],
      { timeout: PROBE_TIMEOUT_MS, reject: false, stdin: "ignore", env: childEnv(), extendEnv: false },
    );
    const ms = Date.now() - started;
    if (result.exitCode === PROBE_EXIT_CODE) return { works: true, detail: `a test guest ran under ${accel} in ${ms} ms` };
    if (result.timedOut) return { works: false, detail: `a test guest under ${accel} did not finish within ${PROBE_TIMEOUT_MS / 1000} s` };
    const why =
      result.stderr
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.includes("warning:"))
        .slice(0, 1)
        .join("")
        .replace(/^(qemu-system-x86_64: )?(error: )?/, "") || `exit code ${result.exitCode ?? result.signal ?? "unknown"}`;
    return { works: false, detail: `a test guest under ${accel} failed: ${why}` };
  } catch (error) {
    return { works: false, detail: `could not run ${qemuBin}: ${commandFailure(error)}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function cpuVirtFlag(cpuinfoPath: string): Promise<"vmx" | "svm" | null> {
  const text = await readFile(cpuinfoPath, "utf8").catch(() => "");
  const flags = /^flags\s*:(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
  return flags.includes("vmx") ? "vmx" : flags.includes("svm") ? "svm" : null;
}

/** Decides the driver; does not cache (see `vmDriver()`). */
export async function detectDriver(setting: Env["VM_DRIVER"], deps: DriverDetectionDeps = {}): Promise<DriverChoice> {
  if (setting !== "auto") return { driver: setting, source: "setting", reason: `set by VM_DRIVER=${setting}` };
  const device = deps.kvmDevice ?? "/dev/kvm";
  const usable = await access(device, constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!usable) return { driver: "qemu", source: "probe", reason: `${device} is missing or not accessible: software emulation (slower)` };
  const flag = await cpuVirtFlag(deps.cpuinfoPath ?? "/proc/cpuinfo");
  const probe = await (deps.probe ?? (() => probeAccelerator("kvm")))();
  if (probe.works) return { driver: "kvm", source: "probe", reason: `KVM works: ${probe.detail}` };
  const cpu = flag ? `the CPU reports ${flag}` : "the CPU reports neither vmx nor svm";
  return {
    driver: "qemu",
    source: "probe",
    reason: `${device} exists but cannot run guests (${cpu}; ${probe.detail}): software emulation (slower)`,
  };
}

let cached: { setting: string; choice: Promise<DriverChoice> } | undefined;
/** The driver for this process: detected once, re-detected only if the setting changes. */
export function vmDriver(e: Env = env()): Promise<DriverChoice> {
  if (cached?.setting !== e.VM_DRIVER) cached = { setting: e.VM_DRIVER, choice: detectDriver(e.VM_DRIVER) };
  return cached.choice;
}
