// Whether a booting guest has sent anything at all on its network. A guest
// whose box cannot bring its interface up (a box built under a restrictive
// umask once shipped its network config unreadable to systemd-networkd) boots
// to a login prompt and never asks for an address; Vagrant would wait out its
// whole limit for one. One `virsh domstats` call per poll, no process per tick
// of the sampler.
import { env, type Env } from "../env";
import { parseDomstats, DOMAIN_RUNNING } from "./domstats";
import { runVirsh } from "./virsh";

export interface GuestTraffic {
  running: boolean;
  rxPackets: number;
  txPackets: number;
}

/** The domain's state and packet counters summed over its interfaces; null when libvirt has no such domain (yet). */
export async function readGuestTraffic(domain: string, e: Env = env()): Promise<GuestTraffic | null> {
  let text: string;
  try {
    text = await runVirsh(["domstats", "--state", "--interface", "--raw", domain], e);
  } catch {
    return null;
  }
  const stats = parseDomstats(text)[0];
  if (!stats) return null;
  return { running: stats.state === DOMAIN_RUNNING, rxPackets: stats.netRxPackets ?? 0, txPackets: stats.netTxPackets ?? 0 };
}

export interface SilentGuestWatch {
  domain: string;
  /** How long a running guest may stay silent (no packet sent) before it is given up on. */
  silentAfterMs: number;
  pollMs?: number;
  read?: (domain: string) => Promise<GuestTraffic | null>;
  now?: () => number;
  /** Called once, with a message for people, when the guest stayed silent too long. */
  onSilent: (message: string) => void;
}

export function silentGuestMessage(seconds: number, t: GuestTraffic): string {
  return (
    `The VM booted but sent no network traffic in ${seconds} s (virsh domifstat: tx_packets ${t.txPackets}, rx_packets ${t.rxPackets}), ` +
    "so it never asked for an address: check the box (its network configuration must be readable inside the guest; scripts/check-box-image.sh checks a box's image)."
  );
}

/**
 * Polls the domain while a boot is in progress. The silence clock starts when
 * the domain is first seen running and starts again whenever it stops running
 * or its counters go back (a reboot starts a new QEMU process). Returns a stop function.
 */
export function watchForSilentGuest(w: SilentGuestWatch, e: Env = env()): () => void {
  const read = w.read ?? ((d: string) => readGuestTraffic(d, e));
  const now = w.now ?? Date.now;
  let runningSince: number | null = null;
  let lastTx = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const poll = async () => {
    const t = await read(w.domain).catch(() => null);
    if (stopped) return;
    if (!t || !t.running || t.txPackets < lastTx) runningSince = t?.running ? now() : null;
    else runningSince ??= now();
    lastTx = t?.txPackets ?? 0;
    if (t && runningSince !== null && t.txPackets === 0 && now() - runningSince >= w.silentAfterMs) {
      stopped = true;
      w.onSilent(silentGuestMessage(Math.round((now() - runningSince) / 1000), t));
      return;
    }
    timer = setTimeout(() => void poll(), w.pollMs ?? 10_000);
    timer.unref();
  };
  void poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
