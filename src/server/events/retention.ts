// Event retention: events older than EVENTS_RETENTION_D days are deleted by a
// scheduled job, in batches so a big backlog never holds the database lock
// for long. Old correlation burst state goes with them.
import type { Db } from "../db/client";
import { env } from "../env";
import { pruneCorrelationState, systemClock, type Clock } from "./correlation";

const BATCH = 5000;
const DAY_MS = 86_400_000;

/** Deletes events created before `before`; returns how many. */
export async function deleteEventsBefore(db: Db, before: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const batch = await db.event.findMany({
      where: { createdAt: { lt: before } },
      select: { id: true },
      take: BATCH,
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    if (batch.length === 0) return total;
    const { count } = await db.event.deleteMany({ where: { id: { in: batch.map((e) => e.id) } } });
    total += count;
  }
}

export async function runEventRetention(db: Db, retentionDays: number, clock: Clock = systemClock) {
  const now = clock.now().getTime();
  const deleted = await deleteEventsBefore(db, new Date(now - retentionDays * DAY_MS));
  // Burst state older than a day is past every correlation window.
  const pruned = await pruneCorrelationState(db, new Date(now - DAY_MS));
  return { deleted, pruned };
}

/** Runs retention now and then every `intervalMs` (default: RETENTION_INTERVAL_MIN). */
export function startEventRetention(db: Db, opts: { retentionDays?: number; intervalMs?: number; clock?: Clock } = {}): { stop(): Promise<void> } {
  const days = opts.retentionDays ?? env().EVENTS_RETENTION_D;
  const intervalMs = opts.intervalMs ?? env().RETENTION_INTERVAL_MIN * 60_000;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = runEventRetention(db, days, opts.clock).catch((err) => console.error("[events] retention failed:", err));
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref?.();
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
