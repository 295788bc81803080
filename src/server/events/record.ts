// The one way an Event is written. Every area calls recordEvent(); nothing
// else inserts into the Event table, so the feed, correlation rules and export
// see one consistent shape.
import type { Db } from "../db/client";

export const EVENT_TYPES = ["auth", "vm", "alert", "ssh", "admin", "system"] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const SEVERITIES = ["INFO", "WARNING", "CRITICAL"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface EventInput {
  type: EventType;
  /** Short machine name of what happened, e.g. "signin", "signin.refused", "vm.create". */
  action: string;
  severity?: Severity;
  message: string;
  actorId?: string | null;
  actorEmail?: string | null;
  targetUserId?: string | null;
  targetVmId?: string | null;
  sourceIp?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown> | null;
  at?: Date;
}

type EventListener = (event: {
  id: string;
  type: EventType;
  action: string;
  severity: Severity;
  createdAt: Date;
  sourceIp: string | null;
  actorId: string | null;
  details: Record<string, unknown> | null;
}) => void | Promise<void>;
// On globalThis: Next bundles the instrumentation hook (where the correlation
// rules subscribe) apart from the route handlers (where most events are
// recorded), each with its own copy of this module; one set serves both.
const globalForListeners = globalThis as unknown as { twargaEventListeners?: Set<EventListener> };
const listeners = (globalForListeners.twargaEventListeners ??= new Set<EventListener>());

/** Subscribes to every recorded event (correlation rules, live feed). Returns an unsubscribe. */
export function onEvent(listener: EventListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export async function recordEvent(client: Db, input: EventInput) {
  const row = await client.event.create({
    data: {
      type: input.type,
      action: input.action,
      severity: input.severity ?? "INFO",
      message: input.message.slice(0, 2000),
      actorId: input.actorId ?? null,
      actorEmail: input.actorEmail ?? null,
      targetUserId: input.targetUserId ?? null,
      targetVmId: input.targetVmId ?? null,
      sourceIp: input.sourceIp ?? null,
      userAgent: input.userAgent?.slice(0, 500) ?? null,
      details: (input.details ?? undefined) as never,
      ...(input.at ? { createdAt: input.at } : {}),
    },
  });
  for (const listener of listeners) {
    try {
      await listener({
        id: row.id,
        type: input.type,
        action: input.action,
        severity: row.severity,
        createdAt: row.createdAt,
        sourceIp: row.sourceIp,
        actorId: row.actorId,
        details: input.details ?? null,
      });
    } catch (err) {
      console.error("[events] listener failed:", err);
    }
  }
  return row;
}
