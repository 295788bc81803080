import { readFileSync, writeFileSync, mkdtempSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { readGuestTraffic, watchForSilentGuest, type GuestTraffic } from "~/server/hypervisor/guest-traffic";

const FIXTURE = path.resolve(import.meta.dirname, "../../fixtures/virsh/domstats-vagrant-domain.txt");

/** A stand-in virsh that prints the real libvirt 9 output captured on this machine kind. */
function fakeVirsh(output: string | null): string {
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-virsh-"));
  const out = path.join(dir, "out.txt");
  const bin = path.join(dir, "virsh");
  if (output !== null) writeFileSync(out, output);
  writeFileSync(bin, output === null ? "#!/bin/sh\necho \"error: failed to get domain 'x'\" >&2\nexit 1\n" : `#!/bin/sh\ncat ${out}\n`);
  chmodSync(bin, 0o755);
  return bin;
}

describe("readGuestTraffic", () => {
  it("sums the packet counters of every interface from real domstats output", async () => {
    const e = parseEnv({ VIRSH_BIN: fakeVirsh(readFileSync(FIXTURE, "utf8")) });
    expect(await readGuestTraffic("x_default", e)).toEqual({ running: true, rxPackets: 455, txPackets: 522 });
  });

  it("is null while libvirt has no such domain", async () => {
    const e = parseEnv({ VIRSH_BIN: fakeVirsh(null) });
    expect(await readGuestTraffic("x_default", e)).toBeNull();
  });
});

describe("watchForSilentGuest", () => {
  /** Drives the watcher through a scripted series of readings, one per poll, on a fake clock. */
  async function drive(readings: (GuestTraffic | null)[], silentAfterMs: number, stepMs = 10_000) {
    let clock = 0;
    let i = 0;
    const messages: string[] = [];
    let resolveDone: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const stop = watchForSilentGuest(
      {
        domain: "d",
        silentAfterMs,
        pollMs: 1,
        now: () => clock,
        read: async () => {
          const r = readings[Math.min(i++, readings.length - 1)] ?? null;
          clock += stepMs;
          if (i > readings.length + 2) resolveDone();
          return r;
        },
        onSilent: (m) => {
          messages.push(m);
          resolveDone();
        },
      },
      parseEnv({}),
    );
    await done;
    stop();
    return messages;
  }
  const silent: GuestTraffic = { running: true, rxPackets: 3, txPackets: 0 };

  it("gives up on a running guest that sends nothing, saying so with the counters", async () => {
    const messages = await drive(Array(40).fill(silent), 240_000);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/booted but sent no network traffic in 2\d\d s \(virsh domifstat: tx_packets 0, rx_packets 3\)/);
  });

  it("leaves a guest alone once it has sent a packet", async () => {
    const talking: GuestTraffic = { running: true, rxPackets: 10, txPackets: 4 };
    expect(await drive([silent, silent, ...Array(40).fill(talking)], 240_000)).toEqual([]);
  });

  it("does not count the time before the domain runs, nor across a reboot", async () => {
    const off: GuestTraffic = { running: false, rxPackets: 0, txPackets: 0 };
    // 20 polls with no domain, 20 shut off, then 20 silent polls (200 s): under the limit.
    expect(await drive([...Array(20).fill(null), ...Array(20).fill(off), ...Array(20).fill(silent)], 240_000)).toEqual([]);
  });
});
