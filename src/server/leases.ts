// Singleton services in the database: a lease (a ServiceLease row) that one
// process at a time holds, renews with a heartbeat and loses when it stops
// renewing. Several app processes may share one database (web-only replicas and
// one background process per host); whatever must run once (per host, or once
// in all) runs only in the process that holds its lease.
//
// Taking and renewing are single guarded writes, so two processes can never
// both succeed: an UPDATE that only matches a row that has expired or is
// already ours, else an INSERT that the primary key lets only one process win.
// Times come from this process's clock and are compared by the contenders'
// clocks: fine for a per-host lease (one clock) and for hosts kept in sync by
// NTP, with a TTL far above any skew.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Prisma } from "../generated/prisma/sqlite/client";
import type { Db } from "./db/client";
import { env } from "./env";
import { isUniqueViolation } from "./errors";

/** This host's name in per-host lease names (HOST_ID, else the machine's host name). */
export function hostId(): string {
  return env().HOST_ID ?? hostname();
}

/** A holder name unique to this process and this run: host, pid and a random part (a PID is reused after a restart). */
export function newHolderId(): string {
  return `${hostId()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** Takes the lease if it is free, expired or already ours; true when this holder now has it until nowMs + ttlMs. */
export async function tryAcquireLease(db: Db, name: string, holder: string, ttlMs: number, nowMs = Date.now()): Promise<boolean> {
  const now = new Date(nowMs);
  const expiresAt = new Date(nowMs + ttlMs);
  const taken = await db.serviceLease.updateMany({
    where: { name, OR: [{ expiresAt: { lte: now } }, { holder }] },
    data: { holder, acquiredAt: now, heartbeatAt: now, expiresAt, status: Prisma.DbNull }, // the last holder's status is not ours
  });
  if (taken.count === 1) return true;
  try {
    await db.serviceLease.create({ data: { name, holder, acquiredAt: now, heartbeatAt: now, expiresAt } });
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false; // someone holds it (or took it a moment ago)
    throw err;
  }
}

/**
 * Extends the lease by ttlMs, and stores the holder's status when given; false
 * when the lease is no longer ours (another process took it after it expired).
 */
export async function renewLease(db: Db, name: string, holder: string, ttlMs: number, nowMs = Date.now(), status?: unknown): Promise<boolean> {
  const renewed = await db.serviceLease.updateMany({
    where: { name, holder },
    data: {
      heartbeatAt: new Date(nowMs),
      expiresAt: new Date(nowMs + ttlMs),
      ...(status === undefined ? {} : { status: JSON.parse(JSON.stringify(status)) as object }),
    },
  });
  return renewed.count === 1;
}

/** Gives the lease up at once (a graceful stop), so a waiting process need not wait for it to expire. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.serviceLease.deleteMany({ where: { name, holder } });
}

/** The leases whose name starts with `prefix` and that have not expired. */
export async function liveLeases(db: Db, prefix: string, nowMs = Date.now()) {
  return db.serviceLease.findMany({ where: { name: { startsWith: prefix }, expiresAt: { gt: new Date(nowMs) } }, orderBy: { name: "asc" } });
}

/** What a leased service's start function gets: whether the lease is still surely ours, and a way to publish status now. */
export interface HeldLease {
  name: string;
  holder: string;
  /** False once the lease may have expired without a successful renewal: do no singleton work then. */
  valid(): boolean;
  /** Renews now with the service's current status (for readers waiting on it). */
  report(): Promise<void>;
}

export interface LeasedService {
  stop(): Promise<void>;
  /** Stored with every heartbeat, for any process to read. */
  status?(): unknown;
}

export interface LeaseRunnerOptions {
  db: Db;
  name: string;
  /** How long the lease lasts without a heartbeat. Default SERVICE_LEASE_TTL_S. */
  ttlMs?: number;
  /** Heartbeat, and retry while another process holds it. Default ttl / 4: a holder that dies is replaced within ttl + ttl / 4. */
  renewMs?: number;
  start(lease: HeldLease): Promise<LeasedService> | LeasedService;
  log?: (message: string) => void;
}

export interface LeaseRunner {
  /** Whether this process runs the service now. */
  holding(): boolean;
  holder: string;
  stop(): Promise<void>;
}

/**
 * Runs a service only while this process holds its lease: tries to take it now
 * and every renewMs, starts the service when it gets it, renews it with the
 * service's status every renewMs, and stops the service as soon as a renewal
 * finds the lease taken or the lease expires without one (the database was
 * unreachable meanwhile). stop() stops the service and releases the lease.
 */
export function runWhileLeased(opts: LeaseRunnerOptions): LeaseRunner {
  const { db, name } = opts;
  const ttlMs = opts.ttlMs ?? env().SERVICE_LEASE_TTL_S * 1000;
  const renewMs = opts.renewMs ?? Math.max(250, Math.floor(ttlMs / 4));
  const log = opts.log ?? ((m: string) => console.log(`[lease ${name}] ${m}`));
  const holder = newHolderId();
  let service: LeasedService | null = null;
  let starting: Promise<void> | null = null;
  // Until when the lease is surely ours: the send time of the last successful write plus the TTL.
  let validUntil = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let cycle: Promise<void> | null = null;
  let lastError = "";

  const lease: HeldLease = {
    name,
    holder,
    valid: () => !stopped && Date.now() < validUntil,
    report: async () => {
      const sentAt = Date.now();
      // A lease found taken stops the singleton work at once; the next cycle stops the service.
      validUntil = (await renewLease(db, name, holder, ttlMs, sentAt, service?.status?.())) ? sentAt + ttlMs : 0;
    },
  };

  async function stopService(why: string) {
    const running = service;
    service = null;
    validUntil = 0;
    if (running) {
      log(`stopping: ${why}`);
      await running.stop().catch((err: unknown) => log(`stop failed: ${String(err)}`));
    }
  }

  async function once() {
    const sentAt = Date.now();
    try {
      if (service) {
        if (await renewLease(db, name, holder, ttlMs, sentAt, service.status?.())) validUntil = sentAt + ttlMs;
        else await stopService("another process holds the lease now");
      } else if (await tryAcquireLease(db, name, holder, ttlMs, sentAt)) {
        validUntil = sentAt + ttlMs;
        log(`holding the lease as ${holder}`);
        starting = Promise.resolve(opts.start(lease)).then((s) => {
          service = s;
        });
        await starting.finally(() => (starting = null));
      }
      lastError = "";
    } catch (err) {
      // The database is unreachable or failing (or the service failed to start): keep a running service
      // while the lease surely lasts, then stop it; the next cycle tries again.
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastError) log(`${service ? "renewing the lease" : "taking the lease or starting the service"} failed: ${message}`);
      lastError = message;
      if (service && Date.now() >= validUntil) await stopService("the lease expired while the database could not be reached");
    }
  }

  function schedule(delay: number) {
    if (stopped) return;
    timer = setTimeout(() => {
      cycle = once().finally(() => {
        cycle = null;
        schedule(renewMs);
      });
    }, delay);
    timer.unref?.();
  }
  schedule(0);

  return {
    holder,
    holding: () => service !== null && lease.valid(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await cycle;
      await starting;
      await stopService("stopping");
      // Only ever deletes our own row: harmless when we never held it.
      await releaseLease(db, name, holder).catch((err: unknown) => log(`release failed: ${String(err)}`));
    },
  };
}
