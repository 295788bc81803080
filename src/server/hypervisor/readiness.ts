// Can this host run VMs right now? Checks QEMU, libvirt (virsh answering on
// LIBVIRT_URI), Vagrant and its vagrant-libvirt plugin, and the driver choice.
// The admin health view shows the result; VM actions are disabled with its
// message while it is not ready. Monitoring does not depend on it.
import { execa } from "execa";
import { env, type Env } from "../env";
import { childEnv } from "../child-env";
import { vagrantHome } from "../folders";
import { QEMU_BIN, vmDriver, type DriverChoice } from "./driver";
import { commandFailure, runVirsh } from "./virsh";

export type HostComponent = "qemu" | "libvirt" | "vagrant" | "vagrant-libvirt";

export interface HostCheck {
  component: HostComponent;
  ok: boolean;
  version: string | null;
  /** What was found, or what went wrong. */
  detail: string;
  /** How to fix it, when not ok. */
  fix: string | null;
}

export interface HostReadiness {
  ready: boolean;
  /** One sentence for the admin view and for disabled VM actions. */
  message: string;
  checks: HostCheck[];
  driver: DriverChoice | null;
  checkedAt: Date;
}

const SETUP_FIX = "as root on the host run: bash scripts/host-setup.sh";
const CHECK_TIMEOUT_MS = 30_000;

type Run = (bin: string, args: string[]) => Promise<string>;

const runTool =
  (e: Env): Run =>
  async (bin, args) =>
    (await execa(bin, args, { timeout: CHECK_TIMEOUT_MS, stdin: "ignore", env: childEnv({ VAGRANT_HOME: vagrantHome(e), LC_ALL: "C" }), extendEnv: false }))
      .stdout;

export interface ReadinessDeps {
  run?: Run;
  virsh?: (args: string[]) => Promise<string>;
  driver?: () => Promise<DriverChoice>;
}

async function check(component: HostComponent, probe: () => Promise<string>, version: (out: string) => string | null, fix: string): Promise<HostCheck> {
  try {
    const out = await probe();
    const found = version(out);
    if (found === null) return { component, ok: false, version: null, detail: `${component} not found in: ${out.trim().split("\n")[0] ?? ""}`, fix };
    return { component, ok: true, version: found, detail: `${component} ${found}`, fix: null };
  } catch (error) {
    return { component, ok: false, version: null, detail: commandFailure(error), fix };
  }
}

export async function checkHostReadiness(e: Env = env(), deps: ReadinessDeps = {}): Promise<HostReadiness> {
  const run = deps.run ?? runTool(e);
  const virsh = deps.virsh ?? ((args: string[]) => runVirsh(args, e, CHECK_TIMEOUT_MS));
  const [qemu, libvirt, vagrant, plugin, driver] = await Promise.all([
    check(
      "qemu",
      () => run(QEMU_BIN, ["--version"]),
      (o) => /QEMU emulator version (\S+)/.exec(o)?.[1] ?? null,
      `install QEMU (Debian: apt-get install --no-install-recommends qemu-system-x86 qemu-utils), or ${SETUP_FIX}`,
    ),
    check(
      "libvirt",
      () => virsh(["version"]),
      (o) => {
        const lib = /Using library: libvirt (\S+)/.exec(o)?.[1];
        const hv = /Running hypervisor: (.+)$/m.exec(o)?.[1]?.trim();
        return lib ? `${lib}${hv ? ` (hypervisor ${hv})` : ""}` : null;
      },
      `start libvirtd and make ${e.LIBVIRT_URI} reachable for the app's user: ${SETUP_FIX}`,
    ),
    check(
      "vagrant",
      () => run(e.VAGRANT_BIN, ["--version"]),
      (o) => /Vagrant (\S+)/.exec(o)?.[1] ?? null,
      `install Vagrant (Debian: apt-get install --no-install-recommends vagrant) or set VAGRANT_BIN; ${SETUP_FIX}`,
    ),
    check(
      "vagrant-libvirt",
      () => run(e.VAGRANT_BIN, ["plugin", "list"]),
      (o) => /vagrant-libvirt \(([^,)]+)/.exec(o)?.[1] ?? null,
      `install the vagrant-libvirt plugin (Debian: apt-get install --no-install-recommends vagrant-libvirt); ${SETUP_FIX}`,
    ),
    (deps.driver ?? (() => vmDriver(e)))().catch(() => null),
  ]);
  const checks = [qemu, libvirt, vagrant, plugin];
  const failing = checks.filter((c) => !c.ok);
  const ready = failing.length === 0;
  const message = ready
    ? `Ready: ${checks.map((c) => c.detail).join(", ")}; driver ${driver?.driver ?? "unknown"}${driver ? ` (${driver.reason})` : ""}.`
    : `VM actions are disabled: ${failing.map((c) => `${c.component}: ${c.detail}`).join("; ")}. Fix: ${failing[0]!.fix}.`;
  return { ready, message, checks, driver, checkedAt: new Date() };
}

const MAX_AGE_MS = 60_000;
let cached: { at: number; key: string; result: Promise<HostReadiness> } | undefined;

/**
 * This host's readiness, checked at most once a minute (`virsh version` alone
 * takes seconds); `refresh` checks again now, e.g. after the admin ran host setup.
 */
export function hostReadiness(opts: { refresh?: boolean } = {}, e: Env = env()): Promise<HostReadiness> {
  const now = Date.now();
  // Keyed by the tools checked, so a process that switches settings (tests) never sees another host's answer.
  const key = [e.VAGRANT_BIN, e.VIRSH_BIN, e.LIBVIRT_URI, e.VAGRANT_HOME, e.DATA_DIR].join("\0");
  if (opts.refresh || !cached || cached.key !== key || now - cached.at > MAX_AGE_MS) cached = { at: now, key, result: checkHostReadiness(e) };
  return cached.result;
}
