// Which libvirt URIs the readiness check can watch through a socket (no child
// process), which have no daemon at all, and which only virsh can answer for.
import { describe, expect, it } from "vitest";
import { libvirtEndpoint } from "~/server/hypervisor/readiness";

describe("libvirtEndpoint", () => {
  it("reaches the system daemon through virtqemud's socket, else libvirtd's", () => {
    expect(libvirtEndpoint("qemu:///system")).toEqual({ kind: "socket", paths: ["/run/libvirt/virtqemud-sock", "/run/libvirt/libvirt-sock"] });
    expect(libvirtEndpoint("qemu+unix:///system")).toEqual({ kind: "socket", paths: ["/run/libvirt/virtqemud-sock", "/run/libvirt/libvirt-sock"] });
  });

  it("uses the socket a URI names", () => {
    expect(libvirtEndpoint("qemu+unix:///system?socket=/srv/libvirt/sock")).toEqual({ kind: "socket", paths: ["/srv/libvirt/sock"] });
  });

  it("finds a session daemon under XDG_RUNTIME_DIR, and leaves it to virsh without one", () => {
    expect(libvirtEndpoint("qemu:///session", { XDG_RUNTIME_DIR: "/run/user/1000" })).toEqual({
      kind: "socket",
      paths: ["/run/user/1000/libvirt/virtqemud-sock", "/run/user/1000/libvirt/libvirt-sock"],
    });
    expect(libvirtEndpoint("qemu:///session", {})).toBeNull();
  });

  it("knows the test driver runs inside virsh", () => {
    expect(libvirtEndpoint("test:///default")).toEqual({ kind: "in-process" });
  });

  it("leaves remote and unparsable URIs to virsh", () => {
    expect(libvirtEndpoint("qemu+ssh://root@hv1/system")).toBeNull();
    expect(libvirtEndpoint("qemu+tcp://hv1/system")).toBeNull();
    expect(libvirtEndpoint("qemu://hv1/system")).toBeNull();
    expect(libvirtEndpoint("not a uri")).toBeNull();
  });
});
