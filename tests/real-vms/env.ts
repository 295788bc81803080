// Settings for the real-hypervisor tests, set before any app module reads them
// (env() is read once per process): the real vagrant, the box's VAGRANT_HOME
// and a VM root that run.sh sweeps on exit.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

process.env.VAGRANT_BIN ??= "/usr/bin/vagrant";
process.env.VM_ROOT ??= path.join(mkdtempSync(path.join(tmpdir(), "twarga-real-vms-")), "vms");
if (!process.env.VAGRANT_HOME) throw new Error("set VAGRANT_HOME to where scripts/build-box.sh added the box (run via tests/real-vms/run.sh)");
// The host decides (kvm where it runs guests, else qemu), as in production.
delete process.env.VM_DRIVER;
