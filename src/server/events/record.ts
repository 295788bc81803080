// The one way an Event is written. Every area calls recordEvent(); nothing
// else inserts into the Event table, so the feed, correlation rules and export
// see one consistent shape.
import type { Db } from "../db/client";
import type { Tx } from "../db/retry";

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

/**
 * Writes one event. Pass a transaction's client to write it with the change it
 * describes: both commit, or neither. No listener is called in-process:
 * readers such as the correlation rules read committed rows by Event.seq from
 * their EventCursor, whichever process wrote them.
 */
export async function recordEvent(client: Db | Tx, input: EventInput) {
  return client.event.create({
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
}
