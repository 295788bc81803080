// Source keys: every row of the metric tables belongs to one source, named by
// kind. The host is "host"; a VM is "vm:<Vm.id>"; a watched filesystem is
// "fs:<path>"; a network interface is "net:<name>".
import type { SourceKind } from "./catalog";

export const HOST_SOURCE = "host";
export const vmSource = (vmId: string) => `vm:${vmId}`;
export const fsSource = (path: string) => `fs:${path}`;
export const netSource = (iface: string) => `net:${iface}`;

export function sourceKind(source: string): SourceKind {
  if (source === HOST_SOURCE) return "host";
  const prefix = source.slice(0, source.indexOf(":"));
  if (prefix === "vm" || prefix === "fs" || prefix === "net") return prefix;
  throw new Error(`unknown metric source "${source}"`);
}

/** The VM id of a "vm:<id>" source, or null for any other source. */
export function vmIdOf(source: string): string | null {
  return source.startsWith("vm:") ? source.slice(3) : null;
}
