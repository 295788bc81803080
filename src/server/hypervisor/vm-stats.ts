// Per-VM metrics from the hypervisor: one `virsh domstats --raw` call per tick
// covers every domain; each VM is matched to its domain by the UUID Vagrant
// recorded in its folder (falling back to vagrant-libvirt's name
// `<folder name>_default`), and rates come from consecutive readings; the raw
// counters go along too, for the Prometheus exposition.
//
// A VM without a reading (no domain, domain not running, libvirt unreachable)
// is "unavailable" with the reason, never a row of zeros.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env, type Env } from "../env";
import type { VmCounters } from "../metrics/collectors/vms";
import { CounterRates, pct } from "../metrics/rates";
import { DOMAIN_RUNNING, parseDomstats, type DomainStats } from "./domstats";
import { commandFailure, type RunVirsh } from "./virsh";
import { virshSession } from "./virsh-session";

export interface VmRef {
  id: string;
  /** The VM's Vagrant project folder. */
  folder: string;
  /** The libvirt domain name; defaults to `<folder name>_default`. */
  domainName?: string;
  /** Only its domain's state is wanted (a VM the database says is down): no stats, no "unavailable" result. */
  stateOnly?: boolean;
}

/**
 * What libvirt said about one VM's domain at a tick: its state and state
 * reason (virDomainState / virDomain*Reason), or that no such domain exists.
 */
export type DomainObservation =
  { vmId: string; domain: string; present: true; state: number | null; reason: number | null } | { vmId: string; domain: string; present: false };

/** One tick's look at libvirt: `libvirtUp` false means virsh itself failed, so nothing is known about any domain. */
export interface TickObservation {
  atMs: number;
  libvirtUp: boolean;
  /** One per listed VM when libvirt answered; empty otherwise. */
  domains: DomainObservation[];
  /** Stats of the listed VMs that are not stateOnly. */
  results: VmStatsResult[];
}

/** Named as the metrics catalog names them (src/server/metrics/catalog.ts). */
export interface VmStats {
  /** Share of the VM's vCPUs in use, 0–100; null on the first reading or after a counter reset. */
  cpuPct: number | null;
  memUsedBytes: number | null;
  memAvailableBytes: number | null;
  memPct: number | null;
  /** Resident memory of the VM's QEMU process on the host. */
  rssBytes: number | null;
  diskReadBps: number | null;
  diskWriteBps: number | null;
  netRxBps: number | null;
  netTxBps: number | null;
}

export type VmStatsResult =
  | {
      vmId: string;
      status: "ok";
      domain: string;
      atMs: number;
      vcpus: number | null;
      stats: VmStats;
      /** The counters behind the rates, as domstats printed them (in seconds and bytes), for the Prometheus exposition. */
      counters: VmCounters;
    }
  | { vmId: string; status: "unavailable"; reason: string };

/** Where vagrant-libvirt records the UUID of the domain it created. */
export function domainIdFile(folder: string): string {
  return path.join(folder, ".vagrant", "machines", "default", "libvirt", "id");
}

export function defaultDomainName(folder: string): string {
  return `${path.basename(folder)}_default`;
}

const STATE_NAMES: Record<number, string> = { 0: "in no state", 2: "blocked", 3: "paused", 4: "shutting down", 5: "shut off", 6: "crashed", 7: "suspended" };
const UUID_RETRY_MS = 60_000;

function domainReason(domain: DomainStats): number | null {
  const raw = domain.fields.get("state.reason");
  const value = raw === undefined || raw === "" ? NaN : Number(raw);
  return Number.isFinite(value) ? value : null;
}

export class VmStatsReader {
  private readonly rates = new CounterRates();
  private readonly uuidNames = new Map<string, string>();
  private readonly unknownUuids = new Map<string, number>();

  constructor(
    private readonly virsh: RunVirsh,
    private readonly now: () => number = Date.now,
  ) {}

  /** One reading per VM; `atMs` is when the tick happened (defaults to now). */
  async read(vms: readonly VmRef[], atMs: number = this.now()): Promise<VmStatsResult[]> {
    return (await this.observe(vms, atMs)).results;
  }

  /**
   * The same single `virsh domstats --raw` call (it lists inactive domains
   * too), also returning each listed VM's domain state, for reconciliation.
   */
  async observe(vms: readonly VmRef[], atMs: number = this.now()): Promise<TickObservation> {
    if (vms.length === 0) return { atMs, libvirtUp: true, domains: [], results: [] };
    let domains: Map<string, DomainStats>;
    try {
      const out = await this.virsh(["domstats", "--raw"]);
      domains = new Map(parseDomstats(out).map((d) => [d.name, d]));
    } catch (error) {
      // Counters keep running inside QEMU while libvirtd is away, so baselines stay.
      const reason = `libvirt unreachable: ${commandFailure(error)}`;
      const results = vms.filter((vm) => !vm.stateOnly).map((vm): VmStatsResult => ({ vmId: vm.id, status: "unavailable", reason }));
      return { atMs, libvirtUp: false, domains: [], results };
    }

    const results: VmStatsResult[] = [];
    const observed: DomainObservation[] = [];
    const seen: string[] = [];
    for (const vm of vms) {
      const name = await this.domainNameOf(vm);
      const domain = domains.get(name);
      observed.push(
        domain
          ? { vmId: vm.id, domain: name, present: true, state: domain.state, reason: domainReason(domain) }
          : { vmId: vm.id, domain: name, present: false },
      );
      if (vm.stateOnly) continue;
      if (!domain) {
        results.push({ vmId: vm.id, status: "unavailable", reason: `no libvirt domain ${name}` });
        continue;
      }
      if (domain.state !== DOMAIN_RUNNING) {
        // Not keeping its baselines: a restarted QEMU starts its counters at zero.
        const state = domain.state === null ? "in an unknown state" : (STATE_NAMES[domain.state] ?? `in state ${domain.state}`);
        results.push({ vmId: vm.id, status: "unavailable", reason: `domain ${name} is ${state}` });
        continue;
      }
      if (domain.cpuTimeNs === null && domain.rssKiB === null) {
        results.push({ vmId: vm.id, status: "unavailable", reason: `domain ${name} reports no statistics` });
        continue;
      }
      const key = (metric: string) => `${vm.id}\0${name}\0${metric}`;
      const rate = (metric: string, value: number | null) => {
        seen.push(key(metric));
        return value === null ? null : this.rates.rate(key(metric), value, atMs);
      };
      // cpu.time is ns of CPU per wall second; QEMU's own threads can push it a
      // little past the vCPUs' capacity under emulation, hence the cap.
      const cpuNsPerS = rate("cpu", domain.cpuTimeNs);
      const cpuPct = cpuNsPerS === null || !domain.vcpus ? null : Math.min(100, Math.round((cpuNsPerS / 1e9 / domain.vcpus) * 10000) / 100);
      const totalKiB = domain.balloonAvailableKiB;
      const usableKiB = domain.balloonUsableKiB;
      const usedKiB = totalKiB !== null && usableKiB !== null ? Math.max(0, totalKiB - usableKiB) : null;
      results.push({
        vmId: vm.id,
        status: "ok",
        domain: name,
        atMs,
        vcpus: domain.vcpus,
        stats: {
          cpuPct,
          memUsedBytes: usedKiB === null ? null : usedKiB * 1024,
          memAvailableBytes: usableKiB === null ? null : usableKiB * 1024,
          memPct: usedKiB === null || totalKiB === null ? null : pct(usedKiB, totalKiB),
          rssBytes: domain.rssKiB === null ? null : domain.rssKiB * 1024,
          diskReadBps: rate("disk.rd", domain.blockReadBytes),
          diskWriteBps: rate("disk.wr", domain.blockWriteBytes),
          netRxBps: rate("net.rx", domain.netRxBytes),
          netTxBps: rate("net.tx", domain.netTxBytes),
        },
        counters: {
          cpuSeconds: domain.cpuTimeNs === null ? null : domain.cpuTimeNs / 1e9,
          diskReadBytes: domain.blockReadBytes,
          diskWrittenBytes: domain.blockWriteBytes,
          netReceiveBytes: domain.netRxBytes,
          netTransmitBytes: domain.netTxBytes,
        },
      });
    }
    this.rates.retainOnly(seen);
    return { atMs, libvirtUp: true, domains: observed, results };
  }

  /**
   * The domain of a VM: by the UUID in its folder when libvirt knows it (the
   * lookup happens once per UUID), else by vagrant-libvirt's naming rule.
   */
  private async domainNameOf(vm: VmRef): Promise<string> {
    const fallback = vm.domainName ?? defaultDomainName(vm.folder);
    const uuid = await readFile(domainIdFile(vm.folder), "utf8").then(
      (s) => s.trim(),
      () => "",
    );
    if (!uuid) return fallback;
    const known = this.uuidNames.get(uuid);
    if (known) return known;
    const failedAt = this.unknownUuids.get(uuid);
    if (failedAt !== undefined && this.now() - failedAt < UUID_RETRY_MS) return fallback;
    try {
      const name = (await this.virsh(["domname", uuid])).trim();
      if (name) {
        this.uuidNames.set(uuid, name);
        this.unknownUuids.delete(uuid);
        return name;
      }
    } catch {
      // The domain is gone (destroyed outside Vagrant) or libvirt is away.
    }
    this.unknownUuids.set(uuid, this.now());
    return fallback;
  }
}

/** A reader using the configured virsh and libvirt URI, through this process's long-lived virsh (no process per tick). */
export function createVmStatsReader(e: Env = env()): VmStatsReader {
  return new VmStatsReader(virshSession(e).run);
}

let shared: VmStatsReader | undefined;
/** Stats of these VMs now, from this process's shared reader (it keeps the previous readings). */
export function readVmStats(vms: readonly VmRef[], e: Env = env()): Promise<VmStatsResult[]> {
  shared ??= createVmStatsReader(e);
  return shared.read(vms);
}
