// The audit log: one row per admin action with who, what, the target, and the
// values before and after. Rows are only inserted (writeAudit); there is no
// update or delete anywhere in the app, and the database refuses both
// (triggers in the events_admin migration).
import { z } from "zod";
import type { Prisma } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import type { Tx } from "../db/retry";
import { forbidden } from "../errors";
import { decodeCursor, newestFirst, olderThan, toPage } from "../events/feed";
import { isAdmin, type Actor } from "../permissions";

export interface AuditEntry {
  actor: Actor;
  /** The admin procedure, e.g. "admin.setRole". */
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  before?: unknown;
  after?: unknown;
}

/** JSON-safe copy (dates as ISO strings, no undefined) for the Json columns. */
function toJson(value: unknown): Prisma.InputJsonValue | undefined {
  if (value === undefined || value === null) return undefined;
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as Prisma.InputJsonValue;
}

/** Writes one row; pass a transaction's client to write it with the change it records. */
export async function writeAudit(db: Db | Tx, entry: AuditEntry) {
  return db.auditLog.create({
    data: {
      actorId: entry.actor.id,
      actorEmail: entry.actor.email,
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId ?? null,
      before: toJson(entry.before),
      after: toJson(entry.after),
    },
  });
}

export const auditFilterSchema = z.object({
  actor: z.string().trim().min(1).max(320).optional(),
  action: z.string().trim().min(1).max(100).optional(),
  targetId: z.string().trim().min(1).max(100).optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  cursor: z.string().max(100).nullish(),
  limit: z.number().int().min(1).max(200).default(50),
});

/** The audit log for admins, newest first, keyset-paginated like the event feed. */
export async function listAuditLog(db: Db, actor: Actor, input: z.input<typeof auditFilterSchema>) {
  if (!isAdmin(actor)) throw forbidden("Admins only.");
  const f = auditFilterSchema.parse(input);
  const and: Prisma.AuditLogWhereInput[] = [];
  if (f.actor) and.push(f.actor.includes("@") ? { actorEmail: f.actor.toLowerCase() } : { actorId: f.actor });
  if (f.action) and.push({ action: { contains: f.action } });
  if (f.targetId) and.push({ targetId: f.targetId });
  if (f.from || f.to) and.push({ createdAt: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lte: f.to } : {}) } });
  const cursor = f.cursor ? decodeCursor(f.cursor) : null;
  if (cursor) and.push(olderThan(cursor));
  const rows = await db.auditLog.findMany({ where: { AND: and }, orderBy: newestFirst(), take: f.limit + 1 });
  return toPage(rows, f.limit);
}
