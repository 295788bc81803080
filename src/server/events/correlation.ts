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
// Burst state lives in CorrelationState so a restart does not raise twice.
import type { Prisma } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { onEvent, recordEvent } from "./record";

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

export class CorrelationEngine {
  // Events are looked at one at a time so two concurrent failures cannot both
  // see "not raised yet" and raise twice.
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly settings: CorrelationSettings = correlationSettings(),
    private readonly clock: Clock = systemClock,
  ) {}

  observe(event: ObservedEvent): Promise<void> {
    // Only events a rule looks at are queued. The events the rules raise are
    // never among them, which matters: a rule awaits recordEvent(), which
    // awaits this listener, so queueing them would wait on itself.
    if (!isSignInFailure(event) && !isSuccessfulSignIn(event) && !isVmDestroy(event)) return Promise.resolve();
    const run = this.queue.then(() => this.apply(event));
    this.queue = run.catch((err) => console.error("[correlation] rule failed:", err));
    return this.queue;
  }

  private async apply(e: ObservedEvent) {
    if (isSignInFailure(e) && e.sourceIp) await this.bruteForce(e, e.sourceIp);
    else if (isSuccessfulSignIn(e) && e.actorId && e.sourceIp) await this.adminNewIp(e, e.actorId, e.sourceIp);
    else if (isVmDestroy(e) && e.actorId) await this.massDestroy(e, e.actorId);
  }

  /**
   * Advances the burst for `key` to the event's time and, unless this burst
   * already raised, asks `shouldRaise` and raises when it says so.
   */
  private async burst(key: string, at: Date, windowMs: number, shouldRaise: () => Promise<boolean>, raise: () => Promise<unknown>) {
    const state = await this.db.correlationState.findUnique({ where: { key } });
    const quiet = !state || at.getTime() - state.lastSeenAt.getTime() >= windowMs;
    let raisedAt = quiet ? null : state.raisedAt;
    const lastSeenAt = state && state.lastSeenAt > at ? state.lastSeenAt : at;
    if (!raisedAt && (await shouldRaise())) {
      raisedAt = at;
      await raise();
    }
    await this.db.correlationState.upsert({ where: { key }, create: { key, lastSeenAt, raisedAt }, update: { lastSeenAt, raisedAt } });
  }

  private async bruteForce(e: ObservedEvent, ip: string) {
    const { bruteForceThreshold: threshold, bruteForceWindowMs: windowMs } = this.settings;
    let count = 0;
    await this.burst(
      `bruteforce:${ip}`,
      e.createdAt,
      windowMs,
      async () => {
        count = await this.db.event.count({
          where: { sourceIp: ip, createdAt: { gt: new Date(e.createdAt.getTime() - windowMs), lte: e.createdAt }, ...signInFailureWhere },
        });
        return count >= threshold;
      },
      () =>
        recordEvent(this.db, {
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

  private async adminNewIp(e: ObservedEvent, userId: string, ip: string) {
    const user = await this.db.user.findUnique({ where: { id: userId }, select: { email: true, role: true } });
    if (user?.role !== "ADMIN") return;
    const earlier = { actorId: userId, type: "auth", action: "signin", id: { not: e.id }, createdAt: { lte: e.createdAt } } satisfies Prisma.EventWhereInput;
    const [fromThisIp, anyBefore] = await Promise.all([
      this.db.event.findFirst({ where: { ...earlier, sourceIp: ip }, select: { id: true } }),
      this.db.event.findFirst({ where: earlier, select: { id: true } }),
    ]);
    if (fromThisIp || !anyBefore) return;
    await recordEvent(this.db, {
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

  private async massDestroy(e: ObservedEvent, userId: string) {
    const { massDestroyThreshold: threshold, massDestroyWindowMs: windowMs } = this.settings;
    let count = 0;
    await this.burst(
      `massdestroy:${userId}`,
      e.createdAt,
      windowMs,
      async () => {
        count = await this.db.event.count({
          where: { actorId: userId, type: "vm", action: "vm.destroy", createdAt: { gt: new Date(e.createdAt.getTime() - windowMs), lte: e.createdAt } },
        });
        return count > threshold;
      },
      async () => {
        const user = await this.db.user.findUnique({ where: { id: userId }, select: { email: true } });
        return recordEvent(this.db, {
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

/** Hooks the rules to every recorded event. */
export function startCorrelation(db: Db, settings?: CorrelationSettings, clock?: Clock): { engine: CorrelationEngine; stop(): Promise<void> } {
  const engine = new CorrelationEngine(db, settings, clock);
  const unsubscribe = onEvent((event) => engine.observe(event));
  return {
    engine,
    async stop() {
      unsubscribe();
    },
  };
}
