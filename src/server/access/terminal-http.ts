// The browser terminal over plain HTTP: output as server-sent events (one GET
// that stays open), input, resize and close as small JSON POSTs. The route
// handlers in src/app/api/terminal/ resolve the signed-in user and call these.
// Why not a WebSocket: `next start` has no upgrade hook without a custom
// server; SSE and POSTs go through the same origin, the same Auth.js session
// check and any reverse proxy that passes ordinary HTTP (README, "Terminal").
import { z } from "zod";
import type { Db } from "../db/client";
import { DomainError, type DomainErrorCode } from "../errors";
import type { Actor } from "../permissions";
import { requestInfoFrom } from "../request-info";
import { BodyTooLargeError, readBodyText, TERMINAL_MAX_BODY_BYTES } from "../request-limits";
import { TERMINAL_MAX_INPUT_CHARS, TERMINAL_MAX_SIZE, TERMINAL_MIN_SIZE, terminalSessions, type TerminalSessions } from "./terminal-sessions";

/** A comment line this often keeps proxies and browsers from timing out an idle stream. */
export const SSE_KEEPALIVE_MS = 15_000;
/** A stream whose reader is this far behind is dropped; the browser reconnects and replays from the buffer. */
const SSE_MAX_QUEUED_BYTES = 1024 * 1024;

const STATUS: Record<DomainErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  TOO_MANY_REQUESTS: 429,
};

const size = {
  cols: z.number().int().min(TERMINAL_MIN_SIZE.cols).max(TERMINAL_MAX_SIZE.cols),
  rows: z.number().int().min(TERMINAL_MIN_SIZE.rows).max(TERMINAL_MAX_SIZE.rows),
};
const openBody = z.object({ vmId: z.string().min(1).max(64), ...size });
const inputBody = z.object({ seq: z.number().int().min(1), data: z.string().min(1).max(TERMINAL_MAX_INPUT_CHARS) });
const resizeBody = z.object(size);

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
}

const noContent = () => new Response(null, { status: 204, headers: { "cache-control": "no-store" } });

function fail(err: unknown): Response {
  if (err instanceof DomainError) return json(STATUS[err.code], { error: err.message });
  if (err instanceof BodyTooLargeError) return json(413, { error: err.message });
  throw err;
}

/**
 * Who may call at all: a signed-in user, from a page of this origin. The
 * session cookie is SameSite=Lax, and Sec-Fetch-Site (sent by every current
 * browser) refuses what another site's page sends with it anyway.
 */
function refusal(req: Request, actor: Actor | null): Response | null {
  if (!actor) return json(401, { error: "Sign in first." });
  const site = req.headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return json(403, { error: "Terminal requests must come from this app's own pages." });
  return null;
}

async function readJson<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  // JSON only: another site cannot send this content type without a CORS preflight, which gets no answer.
  if (!req.headers.get("content-type")?.startsWith("application/json")) throw new DomainError("BAD_REQUEST", "Send JSON (content-type: application/json).");
  const text = await readBodyText(req, TERMINAL_MAX_BODY_BYTES);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DomainError("BAD_REQUEST", "The body is not valid JSON.");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new DomainError("BAD_REQUEST", parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  return parsed.data;
}

/** POST /api/terminal {vmId, cols, rows} → 201 {id, vmName}. */
export async function openTerminal(req: Request, actor: Actor | null, db: Db, sessions: TerminalSessions = terminalSessions(db)): Promise<Response> {
  const refused = refusal(req, actor);
  if (refused || !actor) return refused!;
  try {
    const body = await readJson(req, openBody);
    return json(201, await sessions.open(actor, body, requestInfoFrom(req.headers)));
  } catch (err) {
    return fail(err);
  }
}

/** The number after which the browser wants output: Last-Event-ID on a reconnect, `?after=` on a new stream. */
function afterOf(req: Request): number {
  const raw = req.headers.get("last-event-id") ?? new URL(req.url).searchParams.get("after") ?? "0";
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** GET /api/terminal/:id → text/event-stream: `message` events (id = sequence, data = JSON string of output), `gap`, `closed` {reason}. */
export async function streamTerminal(
  req: Request,
  actor: Actor | null,
  db: Db,
  id: string,
  sessions: TerminalSessions = terminalSessions(db),
): Promise<Response> {
  const refused = refusal(req, actor);
  if (refused || !actor) return refused!;
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let detach: (() => void) | null = null;
  let keepalive: ReturnType<typeof setInterval> | null = null;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    detach?.();
    if (keepalive) clearInterval(keepalive);
    try {
      controller.close();
    } catch {
      // Already closed or cancelled by the reader.
    }
  };
  const send = (text: string) => {
    if (ended) return;
    try {
      controller.enqueue(encoder.encode(text));
    } catch {
      end();
      return;
    }
    if ((controller.desiredSize ?? 0) < -SSE_MAX_QUEUED_BYTES) end();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      cancel: end,
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
  );
  // The first line tells EventSource to come back after 1 s (not its default 3 s) when the stream drops.
  send("retry: 1000\n\n");
  try {
    detach = await sessions.attach(actor, id, afterOf(req), {
      output: (chunk) => send(`id: ${chunk.seq}\ndata: ${JSON.stringify(chunk.data)}\n\n`),
      gap: () => send("event: gap\ndata: {}\n\n"),
      closed: (reason) => {
        send(`event: closed\ndata: ${JSON.stringify({ reason })}\n\n`);
        end();
      },
    });
  } catch (err) {
    ended = true;
    return fail(err);
  }
  if (ended) detach();
  else {
    keepalive = setInterval(() => send(": keepalive\n\n"), SSE_KEEPALIVE_MS);
    req.signal?.addEventListener("abort", end);
  }
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      // no-transform: Next's compression (and proxies) would otherwise hold events back to fill a gzip block.
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
      "x-content-type-options": "nosniff",
    },
  });
}

/** A POST on one terminal, as the route handlers in src/app/api/terminal/[id]/ call it. */
type SessionRoute = (req: Request, actor: Actor | null, db: Db, id: string, sessions?: TerminalSessions) => Promise<Response>;

/**
 * The flow every POST on one terminal shares: refuse who may not call, read
 * the JSON body against `schema`, act on the session, answer 204 (or the
 * DomainError's status).
 */
function sessionRoute<T>(schema: z.ZodType<T>, act: (sessions: TerminalSessions, actor: Actor, id: string, body: T) => Promise<void>): SessionRoute {
  return async (req, actor, db, id, sessions = terminalSessions(db)) => {
    const refused = refusal(req, actor);
    if (refused || !actor) return refused!;
    try {
      await act(sessions, actor, id, await readJson(req, schema));
      return noContent();
    } catch (err) {
      return fail(err);
    }
  };
}

/** POST /api/terminal/:id/input {seq, data} → 204. The data is typed into the shell and kept nowhere. */
export const terminalInput = sessionRoute(inputBody, (sessions, actor, id, { seq, data }) => sessions.write(actor, id, seq, data));

/** POST /api/terminal/:id/resize {cols, rows} → 204. */
export const terminalResize = sessionRoute(resizeBody, (sessions, actor, id, { cols, rows }) => sessions.resize(actor, id, cols, rows));

/** POST /api/terminal/:id/close {} → 204. */
export const closeTerminal = sessionRoute(z.object({}), (sessions, actor, id) => sessions.close(actor, id));
