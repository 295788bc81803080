// Points the app's hypervisor settings at a host that passes the readiness
// check that gates VM actions, without a hypervisor: the stand-in vagrant
// (which answers `--version` and `plugin list` like the real one) and libvirt's
// built-in test driver (the real virsh answers without a daemon). Import it
// before anything reads the settings (env() is read once per process).
import path from "node:path";

process.env.VAGRANT_BIN = path.resolve(import.meta.dirname, "fake-vagrant/vagrant");
process.env.VM_DRIVER = "qemu";
process.env.LIBVIRT_URI = "test:///default";
