// Per-filesystem and per-interface history through the real tRPC router: the
// devices listed for a window, their series, and unknown sources refused.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDb, postgresAvailable, type TestDb } from "../../support/db";
import { createCaller } from "~/server/api/root";
import type { Actor } from "~/server/permissions";
import { MAX_INTERFACES } from "~/server/metrics/history";
import { rollUpClosedBuckets, writeTick } from "~/server/metrics/store";

vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));
// Hoisted above the imports: the settings are read (and cached) on import.
vi.hoisted(() => vi.stubEnv("METRICS_WATCHED_PATHS", "/,/srv/vms"));

// The device listing is hand-written SQL for both providers: run on both.
afterAll(() => vi.unstubAllEnvs());

const providers = postgresAvailable() ? (["sqlite", "postgresql"] as const) : (["sqlite"] as const);

describe.each(providers)("per-device history API on %s", (provider) => {
  let t: TestDb;
  let user: Actor;
  const now = Date.now();

  beforeAll(async () => {
    t = await createTestDb({ provider });
    const u = await t.db.user.create({ data: { email: "user@example.com", role: "USER" } });
    user = { id: u.id, email: u.email, role: "USER" } as Actor;
    // 20 ticks over the last 100 s; eth0 misses the 10 oldest (a gap at the start).
    for (let i = 20; i >= 1; i--) {
      await writeTick(t.db, now - i * 5000, [
        { source: "host", values: { cpuPct: 5 } },
        { source: "fs:/", values: { fsSizeBytes: 1000, fsUsedBytes: 400 + i, fsPct: 40 + i / 10 } },
        { source: "fs:/srv/vms", values: { fsSizeBytes: 1000, fsUsedBytes: 100, fsPct: 10 } },
        ...(i <= 10 ? [{ source: "net:eth0", values: { netRxBps: 1000 * i, netTxBps: 10 * i } }] : []),
        { source: "net:br0", values: { netRxBps: 1, netTxBps: 2 } },
        { source: "vm:some-vm", values: { cpuPct: 1 } },
      ]);
    }
    // An interface last seen three hours ago: in the 6h window, not in the 1h one.
    await writeTick(t.db, now - 3 * 3_600_000, [{ source: "net:old0", values: { netRxBps: 5, netTxBps: 5 } }]);
    // One seen two days ago and left only in the hour rollups (raw and minute rows expired).
    await writeTick(t.db, now - 2 * 86_400_000, [{ source: "net:gone1", values: { netRxBps: 7, netTxBps: 7 } }]);
    await rollUpClosedBuckets(t.db, now);
    await t.db.$executeRaw`DELETE FROM "MetricSample" WHERE "source" = 'net:gone1'`;
    await t.db.$executeRaw`DELETE FROM "MetricMinute" WHERE "source" = 'net:gone1'`;
  });
  afterAll(async () => t.close());

  const caller = () => createCaller({ db: t.db, actor: user, sourceIp: null, userAgent: null });

  it("lists the watched filesystems and the interfaces with readings in the window", async () => {
    const hour = await caller().metrics.hostDevices({ range: "1h" });
    expect(hour.filesystems).toEqual([
      { path: "/", source: "fs:/" },
      { path: "/srv/vms", source: "fs:/srv/vms" },
    ]);
    expect(hour.interfaces).toEqual([
      { name: "br0", source: "net:br0" },
      { name: "eth0", source: "net:eth0" },
    ]);
    expect(hour.interfacesOmitted).toBe(0);
    expect((await caller().metrics.hostDevices({ range: "6h" })).interfaces.map((i) => i.name)).toEqual(["br0", "eth0", "old0"]);
    expect((await caller().metrics.hostDevices({ range: "7d" })).interfaces.map((i) => i.name)).toEqual(["br0", "eth0", "gone1", "old0"]);
  });

  it("serves an interface's in/out series with the host's tier choice, gaps kept as null", async () => {
    const h = await caller().metrics.deviceHistory({ source: "net:eth0", metrics: ["netRxBps", "netTxBps"], range: "1h" });
    const host = await caller().metrics.hostHistory({ metrics: ["cpuPct"], range: "1h" });
    expect({ tier: h.tier, stepMs: h.stepMs, points: h.t.length }).toEqual({ tier: host.tier, stepMs: host.stepMs, points: host.t.length });
    expect(h.t.length).toBeLessThanOrEqual(500);
    const rx = h.series.netRxBps!;
    expect(Math.max(...rx.max.filter((v): v is number => v !== null))).toBe(10_000);
    expect(Math.min(...rx.min.filter((v): v is number => v !== null))).toBe(1000);
    expect(h.series.netTxBps!.max.some((v) => v === 100)).toBe(true);
    // Before eth0's first reading the buckets are gaps, while the host has data there.
    const firstHost = host.series.cpuPct!.avg.findIndex((v) => v !== null);
    const firstRx = rx.avg.findIndex((v) => v !== null);
    expect(firstRx).toBeGreaterThan(firstHost);
    expect(rx.avg.slice(firstHost, firstRx).every((v) => v === null)).toBe(true);
  });

  it("serves an interface known only from the hour rollups", async () => {
    const h = await caller().metrics.deviceHistory({ source: "net:gone1", metrics: ["netRxBps"], range: "7d" });
    expect(h.tier).toBe("hour");
    expect(h.series.netRxBps!.avg.filter((v) => v !== null)).toEqual([7]);
  });

  it("serves a watched filesystem's used %", async () => {
    const h = await caller().metrics.deviceHistory({ source: "fs:/", metrics: ["fsPct"], range: "1h" });
    const max = h.series.fsPct!.max.filter((v): v is number => v !== null);
    expect(Math.max(...max)).toBeCloseTo(42, 5);
  });

  it("refuses sources that are not a watched filesystem or a known interface, with a clear message", async () => {
    await expect(caller().metrics.deviceHistory({ source: "host", metrics: ["fsPct"], range: "1h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: 'Unknown source "host": give "fs:<watched path>" or "net:<interface>".',
    });
    await expect(caller().metrics.deviceHistory({ source: "vm:some-vm", metrics: ["cpuPct"], range: "1h" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller().metrics.deviceHistory({ source: "fs:/etc", metrics: ["fsPct"], range: "1h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: '"/etc" is not a watched filesystem (watched: /, /srv/vms).',
    });
    await expect(caller().metrics.deviceHistory({ source: "net:wlan9", metrics: ["netRxBps"], range: "1h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: 'No readings are stored for the network interface "wlan9".',
    });
    await expect(caller().metrics.deviceHistory({ source: "net:eth0", metrics: ["fsPct"], range: "1h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: '"fsPct" is not measured for the net.',
    });
    await expect(caller().metrics.deviceHistory({ source: `net:${"x".repeat(400)}`, metrics: ["netRxBps"], range: "1h" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
  });

  it("lists at most MAX_INTERFACES interfaces and says how many it left out", async () => {
    const extra = Array.from({ length: MAX_INTERFACES }, (_, i) => ({ source: `net:veth${String(i).padStart(2, "0")}`, values: { netRxBps: i, netTxBps: i } }));
    await writeTick(t.db, now - 1000, extra);
    const devices = await caller().metrics.hostDevices({ range: "1h" });
    expect(devices.interfaces).toHaveLength(MAX_INTERFACES);
    expect(devices.interfacesOmitted).toBe(2); // br0 and eth0 come first by name
    expect(devices.interfaces[0]!.name).toBe("br0");
  });
});
