// Export of the feed under a filter, as CSV or JSON lines, produced page by
// page (keyset pages of EXPORT_PAGE rows) so a million events stream out with
// the memory of one page. Visibility is the feed's: eventsWhere().
import type { Db } from "../db/client";
import { isAdmin, type Actor } from "../permissions";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { eventPages, eventsWhere } from "./feed";
import type { EventFilter } from "./filter";
import { recordEvent } from "./record";

export type ExportFormat = "csv" | "jsonl";
export const EXPORT_PAGE = 2000;

const COLUMNS = [
  "id",
  "createdAt",
  "type",
  "action",
  "severity",
  "actorId",
  "actorEmail",
  "targetUserId",
  "targetVmId",
  "sourceIp",
  "userAgent",
  "message",
  "details",
] as const;

type ExportRow = Record<(typeof COLUMNS)[number], unknown> & { createdAt: Date };

/**
 * One CSV field. Log data is attacker-controlled (an SSH user name can be
 * "=HYPERLINK(…)"), so cells a spreadsheet would run as a formula get a
 * leading apostrophe.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = value instanceof Date ? value.toISOString() : typeof value === "object" ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(row: ExportRow): string {
  return COLUMNS.map((c) => csvField(row[c])).join(",") + "\r\n";
}

export function jsonLine(row: ExportRow): string {
  return JSON.stringify(Object.fromEntries(COLUMNS.map((c) => [c, row[c] ?? null]))) + "\n";
}

/**
 * Records who took an export of the feed, with which filter and from where,
 * before it streams: taking the security log out is itself worth a line in it.
 * An admin's export (it can hold everyone's events) is an admin action.
 */
export async function recordEventsExport(db: Db, actor: Actor, filter: EventFilter, format: ExportFormat, request: RequestInfo = NO_REQUEST) {
  const given = Object.entries(filter).filter(([, v]) => v !== undefined && v !== null && v !== "");
  const filterText = given.map(([k, v]) => `${k}=${v instanceof Date ? v.toISOString() : String(v)}`).join(" ");
  return recordEvent(db, {
    type: isAdmin(actor) ? "admin" : "auth",
    action: "events.export",
    message: `${actor.email} exported the event feed as ${format === "csv" ? "CSV" : "JSON lines"}${filterText ? ` (${filterText})` : ""}.`,
    actorId: actor.id,
    actorEmail: actor.email,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { format, filter: Object.fromEntries(given) },
  });
}

/** The export as text chunks (one per page), for a streamed response body. */
export async function* exportEvents(
  db: Db,
  actor: Actor,
  filter: EventFilter,
  format: ExportFormat,
  pageSize = EXPORT_PAGE,
  excludingEventId?: string,
): AsyncGenerator<string> {
  const visible = await eventsWhere(db, actor, filter);
  // The export's own record (recordEventsExport) is not part of what it exports.
  const where = excludingEventId ? { AND: [visible, { id: { not: excludingEventId } }] } : visible;
  if (format === "csv") yield COLUMNS.join(",") + "\r\n";
  const line = format === "csv" ? csvLine : jsonLine;
  for await (const page of eventPages(db, where, pageSize)) {
    let chunk = "";
    for (const row of page) chunk += line(row);
    yield chunk;
  }
}

/** A pull-based byte stream: the next page is read only when the client takes the last one. */
export function toReadableStream(chunks: AsyncGenerator<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(encoder.encode(value));
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}

export function exportFileName(format: ExportFormat, now = new Date()): string {
  return `twarga-events-${now.toISOString().replace(/[:.]/g, "-")}.${format === "csv" ? "csv" : "jsonl"}`;
}
