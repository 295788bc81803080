// The sampler: one per host, a tick every SAMPLER_INTERVAL_MS. It runs in the
// background process that holds the host's sampler lease (service.ts); the
// alert evaluator runs inside its ticks, so it is as single as the sampler.
//
// A tick collects from every collector at once, writes all readings in one
// transaction, rolls up the buckets that closed and evaluates alerts. Ticks
// never overlap: one still running when the next is due makes that one skip
// (counted). A collector that throws costs its own readings; a database that
// is locked or down costs that tick's row; either is counted and logged once
// per kind, and the next tick runs as usual. Retention runs on its own timer
// (RETENTION_INTERVAL_MIN), never on the write path.
//
// The raw counters the collectors read (CPU seconds, bytes) are not stored:
// only their latest values are ever wanted (by the Prometheus exposition,
// which leaves rates to Prometheus), so a table for them would cost a write
// per tick for rows nobody reads back. The sampler holds the last tick's
// counters in memory and they travel in stats(), which the lease runner
// writes on the sampler lease with every heartbeat anyway (service.ts,
// leases.ts): every process, web-only replicas too, reads them from there.
import { performance } from "node:perf_hooks";
import type { Db } from "../db/client";
import { env } from "../env";
import { DomainError } from "../errors";
import { hostId, liveLeases, type HeldLease } from "../leases";
import { AlertEvaluator } from "./alerts/evaluator";
import { ensureDefaultAlertRules } from "./alerts/rules";
import { createHostCollector } from "./collectors/host";
import type { Collector, CounterSample, Reading } from "./collectors/types";
import { createVmCollector, type VmReadingSource } from "./collectors/vms";
import { requestCollect } from "./collect-requests";
import { trackReadingGaps } from "./reading-gaps";
import { applyRetention, rollUpClosedBuckets, writeTick, type RetentionResult } from "./store";

/** Each host's sampler lease is "metrics-sampler:<host id>". */
export const SAMPLER_LEASE_PREFIX = "metrics-sampler:";
export const samplerLeaseName = (host = hostId()) => `${SAMPLER_LEASE_PREFIX}${host}`;

export interface SamplerOptions {
  db: Db;
  intervalMs?: number;
  /** Defaults to the host collector, plus the VM collector when vmSource is given. */
  collectors?: Collector[];
  vmSource?: VmReadingSource | null;
  retentionIntervalMs?: number | null;
  alerts?: AlertEvaluator | null;
  /** The host's sampler lease: scheduled ticks are skipped while it may have lapsed (another process may be taking over). */
  lease?: HeldLease | null;
  now?: () => number;
  log?: (message: string) => void;
}

export interface TickResult {
  ts: number;
  durationMs: number;
  readings: Reading[];
  written: number;
  errors: Record<string, string>;
}

/** One source's counters as the sampler last read them, with the time of that tick. */
export interface SourceCounters {
  source: string;
  ts: number;
  counters: CounterSample[];
}

export interface SamplerStats {
  running: boolean;
  intervalMs: number;
  startedAt: number;
  ticks: number;
  skippedTicks: number;
  lastTickAt: number | null;
  lastTickDurationMs: number | null;
  tickMsP50: number | null;
  tickMsP95: number | null;
  errorsByCollector: Record<string, number>;
  lastErrors: Record<string, { message: string; at: number }>;
  lastRetentionAt: number | null;
  lastRetention: RetentionResult | null;
  /** The last tick's outcome, for a "collect now" asked in another process. */
  lastTick: { ts: number; durationMs: number; written: number; errors: Record<string, string> } | null;
  /** The counters held from the latest ticks, one entry per source still reported (absent in a status published by an older version). */
  counters?: SourceCounters[];
}

export interface Sampler {
  stop(): Promise<void>;
  stats(): SamplerStats;
  /** Runs a tick now (waiting for one in flight first) and returns it. */
  tick(): Promise<TickResult>;
  retentionNow(): Promise<RetentionResult>;
}

const DURATION_WINDOW = 720; // one hour of 5-second ticks

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * The counters of the latest ticks, by source. A collector's readings replace
 * everything it reported before, so the counters of a source it no longer
 * reports (a VM stopped or destroyed, an interface removed) are gone at once;
 * what a collector that failed reported last is kept for two more ticks (a
 * collector failing once should not make its series blink), then dropped.
 */
class HeldCounters {
  private readonly bySource = new Map<string, { collector: string; entry: SourceCounters }>();
  /** Rebuilt once per tick, so reading it (every scrape, every heartbeat) costs nothing. */
  list: SourceCounters[] = [];

  update(ts: number, intervalMs: number, results: readonly { collector: string; readings: readonly Reading[] | null }[]) {
    for (const { collector, readings } of results) {
      if (!readings) continue;
      for (const [source, held] of this.bySource) if (held.collector === collector) this.bySource.delete(source);
      for (const r of readings) if (r.counters?.length) this.bySource.set(r.source, { collector, entry: { source: r.source, ts, counters: r.counters } });
    }
    for (const [source, held] of this.bySource) if (held.entry.ts < ts - 2 * intervalMs) this.bySource.delete(source);
    this.list = [...this.bySource.values()].map((h) => h.entry);
  }
}

const errorKind = (err: unknown) => {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const msg = String(e?.message ?? err);
  return /locked|busy/i.test(msg) ? "locked" : String(e?.code ?? e?.name ?? "Error");
};

/** Builds a sampler without starting its timers (startSampler does that). */
export function createSampler(opts: SamplerOptions): Sampler & { start(): void } {
  const { db } = opts;
  const intervalMs = opts.intervalMs ?? env().SAMPLER_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? ((m: string) => console.warn(`[sampler] ${m}`));
  const collectors = opts.collectors ?? [createHostCollector(), ...(opts.vmSource ? [createVmCollector(trackReadingGaps(db, opts.vmSource, log))] : [])];
  const alerts = opts.alerts === undefined ? new AlertEvaluator() : opts.alerts;
  const retentionIntervalMs = opts.retentionIntervalMs === undefined ? env().RETENTION_INTERVAL_MIN * 60_000 : opts.retentionIntervalMs;

  const s: SamplerStats = {
    running: false,
    intervalMs,
    startedAt: now(),
    ticks: 0,
    skippedTicks: 0,
    lastTickAt: null,
    lastTickDurationMs: null,
    tickMsP50: null,
    tickMsP95: null,
    errorsByCollector: {},
    lastErrors: {},
    lastRetentionAt: null,
    lastRetention: null,
    lastTick: null,
  };
  const durations: number[] = [];
  const held = new HeldCounters();
  const loggedKinds = new Set<string>();
  let inFlight: Promise<TickResult> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let retentionTimer: NodeJS.Timeout | null = null;
  let retentionRun: Promise<RetentionResult> | null = null;

  function fail(part: string, err: unknown, errors: Record<string, string>) {
    const message = err instanceof Error ? err.message : String(err);
    errors[part] = message;
    s.errorsByCollector[part] = (s.errorsByCollector[part] ?? 0) + 1;
    s.lastErrors[part] = { message: message.slice(0, 500), at: now() };
    const kind = `${part}:${errorKind(err)}`;
    if (!loggedKinds.has(kind)) {
      loggedKinds.add(kind);
      log(`${part} failed (${errorKind(err)}; further errors of this kind are counted, not logged): ${message}`);
    }
  }

  async function runTick(): Promise<TickResult> {
    const started = performance.now();
    const ts = now();
    const errors: Record<string, string> = {};
    const settled = await Promise.allSettled(collectors.map((c) => c.collect(ts)));
    const readings: Reading[] = [];
    settled.forEach((r, i) => (r.status === "fulfilled" ? readings.push(...r.value) : fail(collectors[i]!.name, r.reason, errors)));
    held.update(
      ts,
      intervalMs,
      settled.map((r, i) => ({ collector: collectors[i]!.name, readings: r.status === "fulfilled" ? r.value : null })),
    );
    let written = 0;
    try {
      written = await writeTick(db, ts, readings);
    } catch (err) {
      fail("database", err, errors);
    }
    if (written > 0) {
      await rollUpClosedBuckets(db, ts).catch((err: unknown) => fail("rollup", err, errors));
      if (alerts) await alerts.evaluate(db, readings, ts).catch((err: unknown) => fail("alerts", err, errors));
    }
    const durationMs = performance.now() - started;
    s.ticks++;
    s.lastTickAt = ts;
    s.lastTickDurationMs = durationMs;
    durations.push(durationMs);
    if (durations.length > DURATION_WINDOW) durations.shift();
    s.lastTick = { ts, durationMs, written, errors };
    return { ts, durationMs, readings, written, errors };
  }

  function tick(): Promise<TickResult> {
    const run = (inFlight ?? Promise.resolve()).catch(() => {}).then(runTick);
    const tracked = run.finally(() => {
      if (inFlight === tracked) inFlight = null;
    });
    inFlight = tracked;
    return tracked;
  }

  function scheduledTick() {
    if (opts.lease && !opts.lease.valid()) return; // the lease runner stops this sampler, or renews the lease, shortly
    if (inFlight) {
      s.skippedTicks++;
      return;
    }
    void tick().catch((err: unknown) => fail("sampler", err, {}));
  }

  async function retentionNow(): Promise<RetentionResult> {
    retentionRun ??= applyRetention(db, now())
      .then((r) => {
        s.lastRetentionAt = now();
        s.lastRetention = r;
        return r;
      })
      .finally(() => (retentionRun = null));
    return retentionRun;
  }

  return {
    start() {
      if (s.running) return;
      s.running = true;
      s.startedAt = now();
      if (alerts) void ensureDefaultAlertRules(db).catch((err: unknown) => fail("alerts", err, {}));
      timer = setInterval(scheduledTick, intervalMs);
      timer.unref?.();
      scheduledTick();
      if (retentionIntervalMs) {
        retentionTimer = setInterval(() => void retentionNow().catch((err: unknown) => fail("retention", err, {})), retentionIntervalMs);
        retentionTimer.unref?.();
      }
    },
    async stop() {
      s.running = false;
      if (timer) clearInterval(timer);
      if (retentionTimer) clearInterval(retentionTimer);
      timer = retentionTimer = null;
      await Promise.allSettled([inFlight, retentionRun]);
      // Webhook retries may take a while; give them a bounded time to finish.
      if (alerts) await Promise.race([alerts.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
    },
    stats() {
      const sorted = [...durations].sort((a, b) => a - b);
      return {
        ...s,
        errorsByCollector: { ...s.errorsByCollector },
        lastErrors: { ...s.lastErrors },
        tickMsP50: percentile(sorted, 50),
        tickMsP95: percentile(sorted, 95),
        counters: held.list,
      };
    },
    tick,
    retentionNow,
  };
}

// One sampler per process at most: the dev server re-evaluates modules on
// reload, so the running instance is kept on globalThis and a second start
// returns it. Which process runs it at all is the lease's business (service.ts).
const globalForSampler = globalThis as unknown as { twargaSampler?: Sampler };

/** Starts the process's sampler (or returns the one already running). */
export function startSampler(opts: SamplerOptions): Sampler {
  if (globalForSampler.twargaSampler) return globalForSampler.twargaSampler;
  const sampler = createSampler(opts);
  const handle: Sampler = {
    ...sampler,
    async stop() {
      if (globalForSampler.twargaSampler === handle) delete globalForSampler.twargaSampler;
      await sampler.stop();
    },
  };
  globalForSampler.twargaSampler = handle;
  sampler.start();
  return handle;
}

/** The running sampler of this process, if any (only in the process that holds this host's sampler lease). */
export const runningSampler = (): Sampler | null => globalForSampler.twargaSampler ?? null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref?.());

/**
 * "Collect now": runs one tick and returns it. In the process that runs the
 * sampler, on the sampler itself. Anywhere else (a web-only replica, a
 * background process waiting for the lease) it never samples itself: it asks
 * the sampler's process (a PostgreSQL notification; with SQLite that process
 * collects at its next scheduled tick) and waits until that process reports a
 * tick that started after the request, then returns that tick with the
 * readings it stored.
 */
export async function collectNow(db: Db, opts: { timeoutMs?: number } = {}): Promise<TickResult> {
  const running = runningSampler();
  if (running) return running.tick();
  const requestedAt = Date.now();
  const pick = async () => {
    const live = await liveLeases(db, SAMPLER_LEASE_PREFIX);
    return live.find((l) => l.name === samplerLeaseName()) ?? live[0] ?? null;
  };
  const lease = await pick();
  if (!lease) {
    throw new DomainError(
      "PRECONDITION_FAILED",
      "No process is sampling: start the app with BACKGROUND_SERVICES=true (and SAMPLER_ENABLED=true) on the host; web-only replicas never sample.",
    );
  }
  await requestCollect(db);
  const e = env();
  const deadline = requestedAt + (opts.timeoutMs ?? e.SAMPLER_INTERVAL_MS + e.SERVICE_LEASE_TTL_S * 1000);
  for (;;) {
    const row = await db.serviceLease.findUnique({ where: { name: lease.name } });
    const tick = (row?.status as Partial<SamplerStats> | null)?.lastTick;
    if (tick && tick.ts >= requestedAt) {
      const rows = await db.metricSample.findMany({ where: { ts: BigInt(Math.trunc(tick.ts)) } });
      const readings: Reading[] = rows.map(({ source, ts: _ts, ...values }) => ({
        source,
        values: Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null)) as Reading["values"],
      }));
      return { ...tick, readings };
    }
    if (Date.now() >= deadline) throw new DomainError("CONFLICT", `The sampler (${lease.holder}) did not report a new tick in time; try again.`);
    await sleep(200);
  }
}

/** Retention now (admin button): through this process's sampler when it runs one, else directly (deleting old rows twice is harmless). */
export async function retentionNow(db: Db): Promise<RetentionResult> {
  return runningSampler()?.retentionNow() ?? applyRetention(db, Date.now());
}
