// The host side of the real-VM tests: libvirt and the VM folders, looked at
// directly (not through the app), to check what the app says against what is.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";

export const LIBVIRT_URI = process.env.LIBVIRT_URI ?? "qemu:///system";
export const VM_ROOT = process.env.VM_ROOT ?? "";
/** Set by scripts/host-setup.sh when it started libvirtd (then it is ours to stop). */
export const LIBVIRTD_PID_FILE = `${process.env.TWARGA_RUN_DIR ?? "/run/twarga"}/libvirtd.pid`;

export async function virsh(...args: string[]): Promise<string> {
  return (await execa("virsh", ["--connect", LIBVIRT_URI, ...args], { reject: false })).stdout;
}

/** The app names a VM's folder after its id and vagrant-libvirt its domain <folder>_default. */
export const domainOf = (vmId: string) => `${vmId}_default`;
export const folderOf = (vmId: string) => path.join(VM_ROOT, vmId);

export async function domainState(vmId: string): Promise<string> {
  return (await virsh("domstate", domainOf(vmId))).trim();
}

/** What is left of a VM on the host: its libvirt domain, volumes, folder. Empty when nothing. */
export async function leftovers(vmId: string): Promise<string[]> {
  const domain = domainOf(vmId);
  const left: string[] = [];
  if ((await virsh("list", "--all", "--name")).split("\n").includes(domain)) left.push(`domain ${domain}`);
  for (const line of (await virsh("vol-list", "default")).split("\n")) if (line.trim().startsWith(domain)) left.push(`volume ${line.trim().split(/\s+/)[0]}`);
  if (existsSync(folderOf(vmId))) left.push(`folder ${folderOf(vmId)}`);
  return left;
}

/** PIDs of the `vagrant up` processes working in a VM's folder (the app started them). */
export function vagrantUpPids(vmId: string): number[] {
  const folder = folderOf(vmId);
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return readlinkSync(`/proc/${pid}/cwd`) === folder && cmd.some((a) => a.endsWith("vagrant")) && cmd.includes("up");
      } catch {
        return false;
      }
    });
}

/** Runs a command in the guest with exactly the SSH command line the app shows. */
export async function sshWith(shownCommand: string, command: string, timeoutMs = 60_000): Promise<string> {
  const [bin, ...args] = shownCommand.trim().split(/\s+/);
  const r = await execa(bin!, [...args, "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", command], { timeout: timeoutMs });
  return r.stdout;
}
