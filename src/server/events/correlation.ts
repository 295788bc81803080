// Correlation rules: look at each recorded event and raise a higher-level one
// when a pattern appears. Windows are measured on the events' own times
// (createdAt), so an sshd log read late still correlates by when things
// happened; the injected clock stamps the raised events.
//
// Rules (thresholds and windows from settings):
// - brute force: ≥ BRUTE_FORCE_THRESHOLD failed SSH or app sign-ins from one IP
//   within BRUTE_FORCE_WINDOW_MIN raise ONE critical event per burst; a burst
//   ends once the IP has been quiet (no failure) for a whole window;
// - admin from a new IP: an admin's successful sign-in from an address never
//   seen for that admin before raises a warning (not on their very first
//   sign-in: there is nothing to compare with yet);
// - mass destroy: a user destroying more than MASS_DESTROY_THRESHOLD VMs within
//   MASS_DESTROY_WINDOW_MIN raises one warning per burst.
//
// The rules run in the background process and read new events by cursor
// (./cursor.ts, named "correlation"), so they see the events of every process
// (web-only replicas included) exactly once: each event a rule looks at is
// handled in the transaction that moves the cursor past it. Burst state lives
// in CorrelationState so a restart does not raise twice.
import type { Prisma } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import type { Tx } from "../db/retry";
import { env, type Env } from "../env";
import { EventCursor, type EventCursorOptions } from "./cursor";
import { recordEvent } from "./record";

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

export interface CorrelationSettings {
  bruteForceThreshold: number;
  bruteForceWindowMs: number;
  massDestroyThreshold: number;
  massDestroyWindowMs: number;
}

export function correlationSettings(e: Env = env()): CorrelationSettings {
  return {
    bruteForceThreshold: e.BRUTE_FORCE_THRESHOLD,
    bruteForceWindowMs: e.BRUTE_FORCE_WINDOW_MIN * 60_000,
    massDestroyThreshold: e.MASS_DESTROY_THRESHOLD,
    massDestroyWindowMs: e.MASS_DESTROY_WINDOW_MIN * 60_000,
  };
}

export interface ObservedEvent {
  id: string;
  type: string;
  action: string;
  createdAt: Date;
  sourceIp: string | null;
  actorId: string | null;
}

/** The actions raised by these rules (the feed and tests refer to them). */
export const RAISED = {
  bruteForce: "auth.brute_force",
  adminNewIp: "auth.admin_new_ip",
  massDestroy: "vm.mass_destroy",
} as const;

// A failed sign-in: sshd's "Failed <method> for …" lines and the app's refused
// or failed sign-ins. "Invalid user" is not counted on its own: sshd logs it
// before the "Failed password for invalid user" of the same attempt.
const SSH_FAILURES = ["ssh.failed"];
const APP_FAILURE_PREFIXES = ["signin.refused", "signin.failed"];

export function isSignInFailure(e: { type: string; action: string }): boolean {
  if (e.type === "ssh") return SSH_FAILURES.includes(e.action);
  return e.type === "auth" && APP_FAILURE_PREFIXES.some((p) => e.action.startsWith(p));
}

const signInFailureWhere: Prisma.EventWhereInput = {
  OR: [{ type: "ssh", action: { in: SSH_FAILURES } }, ...APP_FAILURE_PREFIXES.map((p) => ({ type: "auth", action: { startsWith: p } }))],
};

export const isSuccessfulSignIn = (e: { type: string; action: string }) => e.type === "auth" && e.action === "signin";
export const isVmDestroy = (e: { type: string; action: string }) => e.type === "vm" && e.action === "vm.destroy";

/** The cursor the rules read events from. */
export const CORRELATION_CURSOR = "correlation";

export class CorrelationEngine {
  constructor(
    private readonly settings: CorrelationSettings = correlationSettings(),
    private readonly clock: Clock = systemClock,
  ) {}

  /** Whether a rule looks at this event. The events the rules raise are never among them. */
  wants(event: { type: string; action: string }): boolean {
    return isSignInFailure(event) || isSuccessfulSignIn(event) || isVmDestroy(event);
  }

  /** Applies the rules to one event, reading and writing through `db` (the transaction that moves the cursor past it). */
  async apply(db: Db | Tx, e: ObservedEvent): Promise<void> {
    if (isSignInFailure(e) && e.sourceIp) await this.bruteForce(db, e, e.sourceIp);
    else if (isSuccessfulSignIn(e) && e.actorId && e.sourceIp) await this.adminNewIp(db, e, e.actorId, e.sourceIp);
    else if (isVmDestroy(e) && e.actorId) await this.massDestroy(db, e, e.actorId);
  }

  /**
   * Advances the burst for `key` to the event's time and, unless this burst
   * already raised, asks `shouldRaise` and raises when it says so.
   */
  private async burst(db: Db | Tx, key: string, at: Date, windowMs: number, shouldRaise: () => Promise<boolean>, raise: () => Promise<unknown>) {
    const state = await db.correlationState.findUnique({ where: { key } });
    const quiet = !state || at.getTime() - state.lastSeenAt.getTime() >= windowMs;
    let raisedAt = quiet ? null : state.raisedAt;
    const lastSeenAt = state && state.lastSeenAt > at ? state.lastSeenAt : at;
    if (!raisedAt && (await shouldRaise())) {
      raisedAt = at;
      await raise();
    }
    await db.correlationState.upsert({ where: { key }, create: { key, lastSeenAt, raisedAt }, update: { lastSeenAt, raisedAt } });
  }

  private async bruteForce(db: Db | Tx, e: ObservedEvent, ip: string) {
    const { bruteForceThreshold: threshold, bruteForceWindowMs: windowMs } = this.settings;
    let count = 0;
    await this.burst(
      db,
      `bruteforce:${ip}`,
      e.createdAt,
      windowMs,
      async () => {
        count = await db.event.count({
          where: { sourceIp: ip, createdAt: { gt: new Date(e.createdAt.getTime() - windowMs), lte: e.createdAt }, ...signInFailureWhere },
        });
        return count >= threshold;
      },
      () =>
        recordEvent(db, {
          type: "auth",
          action: RAISED.bruteForce,
          severity: "CRITICAL",
          message: `Brute force suspected: ${count} failed sign-ins from ${ip} within ${windowMs / 60_000} min`,
          sourceIp: ip,
          at: this.clock.now(),
          details: { ip, failures: count, threshold, windowMinutes: windowMs / 60_000, triggeredBy: e.id },
        }),
    );
  }

  private async adminNewIp(db: Db | Tx, e: ObservedEvent, userId: string, ip: string) {
    const user = await db.user.findUnique({ where: { id: userId }, select: { email: true, role: true } });
    if (user?.role !== "ADMIN") return;
    const earlier = { actorId: userId, type: "auth", action: "signin", id: { not: e.id }, createdAt: { lte: e.createdAt } } satisfies Prisma.EventWhereInput;
    const [fromThisIp, anyBefore] = await Promise.all([
      db.event.findFirst({ where: { ...earlier, sourceIp: ip }, select: { id: true } }),
      db.event.findFirst({ where: earlier, select: { id: true } }),
    ]);
    if (fromThisIp || !anyBefore) return;
    await recordEvent(db, {
      type: "auth",
      action: RAISED.adminNewIp,
      severity: "WARNING",
      message: `Admin ${user.email} signed in from a new address ${ip}`,
      actorId: userId,
      actorEmail: user.email,
      targetUserId: userId,
      sourceIp: ip,
      at: this.clock.now(),
      details: { ip, signinEventId: e.id },
    });
  }

  private async massDestroy(db: Db | Tx, e: ObservedEvent, userId: string) {
    const { massDestroyThreshold: threshold, massDestroyWindowMs: windowMs } = this.settings;
    let count = 0;
    await this.burst(
      db,
      `massdestroy:${userId}`,
      e.createdAt,
      windowMs,
      async () => {
        count = await db.event.count({
          where: { actorId: userId, type: "vm", action: "vm.destroy", createdAt: { gt: new Date(e.createdAt.getTime() - windowMs), lte: e.createdAt } },
        });
        return count > threshold;
      },
      async () => {
        const user = await db.user.findUnique({ where: { id: userId }, select: { email: true } });
        return recordEvent(db, {
          type: "vm",
          action: RAISED.massDestroy,
          severity: "WARNING",
          message: `${user?.email ?? userId} destroyed ${count} VMs within ${windowMs / 60_000} min`,
          targetUserId: userId,
          actorEmail: user?.email ?? null,
          at: this.clock.now(),
          details: { destroyed: count, threshold, windowMinutes: windowMs / 60_000, triggeredBy: e.id },
        });
      },
    );
  }
}

/** Drops burst state that has been quiet for longer than any window. */
export async function pruneCorrelationState(db: Db, before: Date) {
  const { count } = await db.correlationState.deleteMany({ where: { lastSeenAt: { lt: before } } });
  return count;
}

export interface CorrelationOptions extends EventCursorOptions {
  /** How often the background process looks for new events (ms; default 5 s: each look is two queries, and the rules' windows are minutes long). */
  pollMs?: number;
}

/** The rules reading new events by cursor, now and then every pollMs, until stopped. */
export function startCorrelation(
  db: Db,
  settings?: CorrelationSettings,
  clock?: Clock,
  opts: CorrelationOptions = {},
): { engine: CorrelationEngine; catchUp(): Promise<number>; stop(): Promise<void> } {
  const engine = new CorrelationEngine(settings, clock);
  const cursor = new EventCursor(db, CORRELATION_CURSOR, opts);
  const handler = { wants: (e: ObservedEvent) => engine.wants(e), handle: (tx: Tx, e: ObservedEvent) => engine.apply(tx, e) };
  // One read at a time: a catch-up asked for during a read waits for it and reads once more.
  let reading: Promise<number> = Promise.resolve(0);
  const catchUp = () => (reading = reading.catch(() => 0).then(() => cursor.readNew(handler)));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    catchUp()
      .catch((err) => console.error("[correlation] reading new events failed:", err))
      .finally(() => {
        if (!stopped) (timer = setTimeout(loop, opts.pollMs ?? 5000)).unref?.();
      });
  };
  loop();
  return {
    engine,
    catchUp,
    /** Stops polling after one last read, so events recorded up to now (the sshd follower's last lines) are still looked at. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await catchUp().catch((err) => console.error("[correlation] last read failed:", err));
    },
  };
}
