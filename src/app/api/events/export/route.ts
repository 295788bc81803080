// GET /api/events/export?format=csv|jsonl&<feed filters>: the feed under the
// same filter and the same visibility rule, streamed page by page.
import { getActor } from "~/server/auth/actor";
import { db } from "~/server/db";
import { eventFilterFromSearchParams } from "~/server/events/filter";
import { exportEvents, exportFileName, recordEventsExport, toReadableStream } from "~/server/events/export";
import { requestInfoFrom } from "~/server/request-info";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  const actor = await getActor();
  if (!actor) return new Response("Sign in first.\n", { status: 401, headers: { "content-type": "text/plain; charset=utf-8" } });
  const params = new URL(req.url).searchParams;
  const format = params.get("format") === "jsonl" ? "jsonl" : "csv";
  const filter = eventFilterFromSearchParams(params);
  const record = await recordEventsExport(db, actor, filter, format, requestInfoFrom(req.headers));
  const body = toReadableStream(exportEvents(db, actor, filter, format, undefined, record.id));
  return new Response(body, {
    headers: {
      "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "content-disposition": `attachment; filename="${exportFileName(format)}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}
