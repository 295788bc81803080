// Parser for `virsh domstats --raw` (libvirt 9): one "Domain: 'name'" header per
// domain followed by indented `key=value` lines. Counters are cumulative since
// the domain's QEMU process started: cpu.time in ns, balloon.* in KiB,
// block.N.{rd,wr}.bytes and net.N.{rx,tx}.bytes in bytes. An inactive domain
// has only its state lines; a guest without the balloon driver has no
// balloon.available/usable.

/** libvirt's virDomainState: 1 running, 3 paused, 5 shut off, … */
export const DOMAIN_RUNNING = 1;

export interface DomainStats {
  name: string;
  state: number | null;
  /** Total CPU time of all vCPUs and QEMU's own threads, ns. */
  cpuTimeNs: number | null;
  vcpus: number | null;
  /** Memory the guest sees (MemTotal), KiB. */
  balloonAvailableKiB: number | null;
  /** Memory the guest could still use without swapping (≈ MemAvailable), KiB. */
  balloonUsableKiB: number | null;
  /** Resident memory of the QEMU process on the host, KiB. */
  rssKiB: number | null;
  /** Sums over every disk / every interface; null when the domain has none reported. */
  blockReadBytes: number | null;
  blockWriteBytes: number | null;
  netRxBytes: number | null;
  netTxBytes: number | null;
  netRxPackets: number | null;
  netTxPackets: number | null;
  /** Every raw field, for anything not modelled above. */
  fields: ReadonlyMap<string, string>;
}

const HEADER = /^Domain: '(.*)'$/;

export function parseDomstats(text: string): DomainStats[] {
  const domains: DomainStats[] = [];
  let name: string | null = null;
  let fields = new Map<string, string>();
  const flush = () => {
    if (name !== null) domains.push(toStats(name, fields));
  };
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (!line) continue;
    const header = HEADER.exec(line);
    if (header) {
      flush();
      name = header[1]!;
      fields = new Map();
      continue;
    }
    const eq = line.indexOf("=");
    if (name === null || eq <= 0) continue; // stray line (a warning virsh printed): not a field
    fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  flush();
  return domains;
}

function toStats(name: string, fields: Map<string, string>): DomainStats {
  const num = (key: string): number | null => {
    const raw = fields.get(key);
    if (raw === undefined || raw === "") return null;
    const value = Number(raw);
    return Number.isFinite(value) ? value : null;
  };
  // Sum an indexed counter over block.0…block.{count-1} (or net.*).
  const sum = (group: "block" | "net", suffix: string): number | null => {
    const count = num(`${group}.count`);
    if (count === null) return null;
    let total = 0;
    let seen = false;
    for (let i = 0; i < count; i++) {
      const value = num(`${group}.${i}.${suffix}`);
      if (value !== null) {
        total += value;
        seen = true;
      }
    }
    return seen ? total : null;
  };
  return {
    name,
    state: num("state.state"),
    cpuTimeNs: num("cpu.time"),
    vcpus: num("vcpu.current"),
    balloonAvailableKiB: num("balloon.available"),
    balloonUsableKiB: num("balloon.usable"),
    rssKiB: num("balloon.rss"),
    blockReadBytes: sum("block", "rd.bytes"),
    blockWriteBytes: sum("block", "wr.bytes"),
    netRxBytes: sum("net", "rx.bytes"),
    netTxBytes: sum("net", "tx.bytes"),
    netRxPackets: sum("net", "rx.pkts"),
    netTxPackets: sum("net", "tx.pkts"),
    fields,
  };
}
