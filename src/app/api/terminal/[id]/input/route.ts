// POST /api/terminal/:id/input {seq, data}: keystrokes for the user's own terminal.
import { getActor } from "~/server/auth/actor";
import { db } from "~/server/db";
import { terminalInput } from "~/server/access/terminal-http";

export const dynamic = "force-dynamic";

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return terminalInput(req, await getActor(), db, (await params).id);
}
