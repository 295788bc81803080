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

/**
 * Runs a command in the guest with the SSH command line the app shows (which
 * names no key: the user brings their own) and the given private key, as a
 * user would from their laptop. Rejects when the guest refuses the key.
 */
export async function sshWith(shownCommand: string, keyPath: string, command: string, timeoutMs = 60_000): Promise<string> {
  const [bin, ...args] = shownCommand.trim().split(/\s+/);
  const destination = args.pop()!;
  const options = [
    "-i",
    keyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=20",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
  ];
  const r = await execa(bin!, [...args, ...options, destination, command], { timeout: timeoutMs });
  return r.stdout;
}

/** The guest's IPv4 address as libvirt's DHCP leased it (the host's view, not the app's). */
export async function guestAddress(vmId: string): Promise<string> {
  const m = /(\d+\.\d+\.\d+\.\d+)\/\d+/.exec(await virsh("domifaddr", domainOf(vmId)));
  if (!m) throw new Error(`libvirt knows no address of ${domainOf(vmId)}`);
  return m[1]!;
}

/** The libvirt network a VM's first interface is on. */
export async function guestNetwork(vmId: string): Promise<string> {
  const line = (await virsh("domiflist", domainOf(vmId))).split("\n").find((l) => /\bnetwork\b/.test(l));
  return line?.trim().split(/\s+/)[2] ?? "";
}

/** Names of the libvirt networks that exist (active or not). */
export async function networks(): Promise<string[]> {
  return (await virsh("net-list", "--all", "--name"))
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/** A fresh ed25519 key pair made by ssh-keygen, as a team member has on their laptop. */
export async function newUserKey(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = `${dir}/${name}`;
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@laptop`, "-f", privateKey]);
  return { privateKey, publicKey: readFileSync(`${privateKey}.pub`, "utf8").trim() };
}
