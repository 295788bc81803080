// GET /api/terminal/:id: the terminal's output as server-sent events, for the
// user who opened it only (Last-Event-ID resumes after a dropped connection).
import { getActor } from "~/server/auth/actor";
import { db } from "~/server/db";
import { streamTerminal } from "~/server/access/terminal-http";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return streamTerminal(req, await getActor(), db, (await params).id);
}
