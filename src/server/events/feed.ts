// Reading the event feed: filters, the visibility rule as a query, and keyset
// pagination on (createdAt, id) newest first. The feed page and the export
// both go through eventsWhere(), so the two can never disagree on who sees what.
import { z } from "zod";
import type { Prisma } from "../../generated/prisma/sqlite/client";
import { providerOfClient, type Db } from "../db/client";
import { isAdmin, type Actor } from "../permissions";
import { eventFilterSchema, type EventFilter } from "./filter";

/**
 * canViewEvent() from permissions.ts as a query: admins see all; a user sees
 * events they caused, that target them, or that concern a VM they own
 * (destroyed VMs included: their history is still theirs).
 */
export async function eventVisibilityWhere(db: Db, actor: Actor): Promise<Prisma.EventWhereInput> {
  if (isAdmin(actor)) return {};
  const owned = await db.vm.findMany({ where: { ownerId: actor.id }, select: { id: true } });
  return {
    OR: [{ actorId: actor.id }, { targetUserId: actor.id }, ...(owned.length ? [{ targetVmId: { in: owned.map((v) => v.id) } }] : [])],
  };
}

async function filterWhere(db: Db, f: EventFilter): Promise<Prisma.EventWhereInput[]> {
  const and: Prisma.EventWhereInput[] = [];
  if (f.type) and.push({ type: f.type });
  if (f.severity) and.push({ severity: f.severity });
  if (f.from || f.to) and.push({ createdAt: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lte: f.to } : {}) } });
  if (f.vm) and.push({ targetVmId: f.vm });
  if (f.user) {
    // An email also matches events of a user since deleted (actorEmail stays).
    const email = f.user.includes("@") ? f.user.toLowerCase() : null;
    const id = email ? (await db.user.findUnique({ where: { email }, select: { id: true } }))?.id : f.user;
    and.push({ OR: [...(id ? [{ actorId: id }, { targetUserId: id }] : []), ...(email ? [{ actorEmail: email }] : [])] });
  }
  if (f.q) {
    // Case-insensitive on both: SQLite's LIKE already is (for ASCII); PostgreSQL needs ILIKE.
    const text = (providerOfClient(db) === "postgresql" ? { contains: f.q, mode: "insensitive" } : { contains: f.q }) as { contains: string };
    and.push({ OR: [{ message: text }, { actorEmail: text }, { sourceIp: text }] });
  }
  return and;
}

/** The one WHERE for everything `actor` may read under `filter`. */
export async function eventsWhere(db: Db, actor: Actor, filter: EventFilter): Promise<Prisma.EventWhereInput> {
  return { AND: [await eventVisibilityWhere(db, actor), ...(await filterWhere(db, filter))] };
}

/** A position in a (createdAt DESC, id DESC) listing; the audit log pages the same way. */
export interface EventCursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(c: EventCursor): string {
  return `${c.createdAt.getTime()}_${c.id}`;
}

export function decodeCursor(s: string): EventCursor | null {
  const m = /^(\d+)_([\w-]+)$/.exec(s);
  return m ? { createdAt: new Date(Number(m[1])), id: m[2]! } : null;
}

/**
 * Rows strictly older than the cursor in (createdAt DESC, id DESC) order. The
 * leading `createdAt <= c` gives the (createdAt, id) index a range to seek to,
 * so page 10,000 costs what page 1 costs.
 */
export function olderThan(c: EventCursor) {
  return { AND: [{ createdAt: { lte: c.createdAt } }, { OR: [{ createdAt: { lt: c.createdAt } }, { id: { lt: c.id } }] }] };
}

/** A page from `limit + 1` rows: the extra row only says whether there is a next page. */
export function toPage<T extends EventCursor>(rows: T[], limit: number) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

export const newestFirst = () => [{ createdAt: "desc" as const }, { id: "desc" as const }];

/** Keyset pages of the rows matching `where`, newest first. */
export async function* eventPages(db: Db, where: Prisma.EventWhereInput, pageSize: number, after?: EventCursor | null) {
  let cursor = after ?? null;
  for (;;) {
    const rows = await db.event.findMany({ where: cursor ? { AND: [where, olderThan(cursor)] } : where, orderBy: newestFirst(), take: pageSize });
    if (rows.length > 0) yield rows;
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1]!;
    cursor = { createdAt: last.createdAt, id: last.id };
  }
}

export const feedInputSchema = eventFilterSchema.extend({
  cursor: z.string().max(100).nullish(),
  limit: z.number().int().min(1).max(200).default(50),
});

/** One page of the feed for `actor`, newest first, with the cursor of the next page. */
export async function listEvents(db: Db, actor: Actor, input: z.input<typeof feedInputSchema>) {
  const { cursor, limit, ...filter } = feedInputSchema.parse(input);
  const where = await eventsWhere(db, actor, filter);
  const after = cursor ? decodeCursor(cursor) : null;
  const rows = await db.event.findMany({ where: after ? { AND: [where, olderThan(after)] } : where, orderBy: newestFirst(), take: limit + 1 });
  return toPage(rows, limit);
}

/** One event, if `actor` may see it. */
export async function getEvent(db: Db, actor: Actor, id: string) {
  return db.event.findFirst({ where: { AND: [{ id }, await eventVisibilityWhere(db, actor)] } });
}
