// A kernel fact shared by vms, hypervisor, metrics and access: where VM folders and Vagrant's own data live. (The turbopackIgnore comments
// stop Next's file tracer from treating these run-time paths as project files.) A VM's folder is always
// <VM_ROOT>/<vm id>: built from the id the app generated, never from user text.
import path from "node:path";
import { env, type Env } from "./env";

export function vmRoot(e: Env = env()): string {
  return path.resolve(/*turbopackIgnore: true*/ e.VM_ROOT ?? path.join(e.DATA_DIR, "vms"));
}

export function vagrantHome(e: Env = env()): string {
  return path.resolve(/*turbopackIgnore: true*/ e.VAGRANT_HOME ?? path.join(e.DATA_DIR, "vagrant.d"));
}

const VM_ID = /^[a-z0-9]{8,64}$/;

/** The folder of a VM. Throws for anything that is not an app-generated id. */
export function vmFolder(vmId: string, e: Env = env()): string {
  if (!VM_ID.test(vmId)) throw new Error(`refusing a VM folder for a malformed id: ${JSON.stringify(vmId)}`);
  return path.join(vmRoot(e), vmId);
}

/** vagrant-libvirt names the domain after the project folder: `<folder name>_default`. */
export function libvirtDomainName(vmId: string): string {
  return `${vmId}_default`;
}
