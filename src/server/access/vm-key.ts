// Each VM's own SSH key pair: the app's (and Vagrant's) way into the guest,
// made when the VM is first written and kept in the VM's folder, readable by
// root only. It never leaves the host: no page, procedure or log shows it.
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { childEnv } from "../child-env";
import { env, type Env } from "../env";
import { vagrantHome, vmFolder } from "../folders";

export interface VmKeyPaths {
  dir: string;
  privateKey: string;
  publicKey: string;
}

export function vmKeyPaths(vmId: string, e: Env = env()): VmKeyPaths {
  const dir = path.join(vmFolder(vmId, e), "access");
  return { dir, privateKey: path.join(dir, "id_ed25519"), publicKey: path.join(dir, "id_ed25519.pub") };
}

/** Vagrant's published key, which the boxes accept until a VM is moved to its own key. */
export function insecureKeyPath(e: Env = env()): string {
  return path.join(vagrantHome(e), "insecure_private_key");
}

/** Makes the VM's key pair when it has none (ed25519: instant, even under emulation). Idempotent. */
export async function ensureVmKey(vmId: string, e: Env = env()): Promise<VmKeyPaths> {
  const paths = vmKeyPaths(vmId, e);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await chmod(paths.dir, 0o700);
  if (!existsSync(paths.privateKey) || !existsSync(paths.publicKey)) {
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `twarga-vm-${vmId}`, "-f", paths.privateKey], {
      input: "y\n",
      reject: true,
      env: childEnv(),
      extendEnv: false,
    });
  }
  await chmod(paths.privateKey, 0o600);
  return paths;
}

/** The VM's public key line ("ssh-ed25519 AAAA… twarga-vm-<id>"), or null when it has none yet. */
export async function vmPublicKey(vmId: string, e: Env = env()): Promise<string | null> {
  const { publicKey } = vmKeyPaths(vmId, e);
  return existsSync(publicKey) ? (await readFile(publicKey, "utf8")).trim() : null;
}
