// The app instance the real-VM browser test drives: the production build,
// the real vagrant, the box's VAGRANT_HOME and the VM root that
// tests/real-vms/run.sh sweeps on exit.
import { e2eApp } from "../e2e/support/apps";

export const realVmApp = e2eApp("real-vms", 3150, {
  VAGRANT_BIN: process.env.VAGRANT_BIN ?? "/usr/bin/vagrant",
  VAGRANT_HOME: process.env.VAGRANT_HOME ?? "",
  VM_ROOT: process.env.VM_ROOT ?? "",
  LIBVIRT_URI: process.env.LIBVIRT_URI ?? "qemu:///system",
  LOCAL_IDP: "on",
  LOCAL_IDP_PORT: "3151",
  AUTH_ALLOWED_DOMAINS: "example.com",
});
