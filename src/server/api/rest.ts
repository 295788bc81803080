// The REST surface for scripts (/api/v1/…, docs/api.md): each operation is a
// tRPC procedure reached over plain HTTP with `Authorization: Bearer <token>`.
// One table (REST_OPERATIONS) drives both the routing and the OpenAPI document
// (openapi.ts), so a documented path always exists; the scope a token needs is
// read from the procedure's own meta, so it is stated in one place.
//
// Calls go through createCaller with a context built from the token, so the
// same scope middleware, permission functions and domain code as the web app
// decide. Only bearer tokens are accepted here, never a session cookie: a
// cookie would make every POST here a cross-site request forgery target.
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { z, ZodError } from "zod";
import type { Db } from "../db/client";
import { authenticateApiToken, bearerTokenOf, tokenInQueryString, type ApiScope } from "../auth/api-tokens";
import { EVENT_TYPES, SEVERITIES } from "../events/record";
import { RANGE_KEYS } from "../metrics/history";
import { createVmInputSchema } from "../vms/spec";
import { requestInfoFrom } from "../request-info";
import { BodyTooLargeError, readBodyText } from "../request-limits";
import { appRouter, createCaller } from "./root";
import type { Context } from "./trpc";

export const REST_BASE = "/api/v1";
/** A launch request is a few hundred bytes; this only bounds what is read before zod sees it. */
export const REST_MAX_BODY_BYTES = 64 * 1024;

type Method = "GET" | "POST";
type Params = Record<string, string>;

export interface RestOperation {
  operationId: string;
  method: Method;
  /** OpenAPI style, relative to REST_BASE: /vms/{id}. */
  path: string;
  /** The tRPC procedure it calls, e.g. "vms.list". */
  procedure: string;
  summary: string;
  tag: "VMs" | "Jobs" | "Metrics" | "Events";
  /** Query parameters: strings in, coerced by zod. */
  query?: z.ZodObject;
  /** The JSON body. A function when its limits come from settings. */
  body?: () => z.ZodType;
  toInput: (req: { params: Params; query: Record<string, unknown>; body: unknown }) => unknown;
  /** The status of a success: 200, or 202 when a job was queued. */
  status?: 200 | 201 | 202;
  response: string;
}

const boolString = z.enum(["true", "false"]).transform((v) => v === "true");
const historyQuery = z.object({
  metrics: z
    .string()
    .max(400)
    .describe("Comma-separated metric names, e.g. cpu,mem (at most 8).")
    .transform((v) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  range: z.enum(RANGE_KEYS).optional().describe("A preset range ending now; or give from and to."),
  from: z.coerce.number().int().nonnegative().optional().describe("Start, in milliseconds since the epoch."),
  to: z.coerce.number().int().nonnegative().optional().describe("End, in milliseconds since the epoch."),
});

export const REST_OPERATIONS: RestOperation[] = [
  {
    operationId: "listVms",
    method: "GET",
    path: "/vms",
    procedure: "vms.list",
    tag: "VMs",
    summary: "List your VMs (an admin token: every user's).",
    query: z.object({ includeDestroyed: boolString.optional().describe("Include destroyed VMs.") }),
    toInput: ({ query }) => ({ includeDestroyed: query.includeDestroyed }),
    response: "An array of VMs.",
  },
  {
    operationId: "listBoxes",
    method: "GET",
    path: "/boxes",
    procedure: "vms.catalog",
    tag: "VMs",
    summary: "What you can launch: the enabled boxes installed on this host (their ids go in boxId), and the spec limits.",
    toInput: () => undefined,
    response: "{ boxes, limits, … }",
  },
  {
    operationId: "launchVm",
    method: "POST",
    path: "/vms",
    procedure: "vms.create",
    tag: "VMs",
    summary: "Launch a VM. Queues a create job; follow it with GET /jobs/{jobId}.",
    body: () => createVmInputSchema().extend({ requestKey: z.string().min(8).max(64).optional().describe("Retry-safe: the same key makes one VM.") }),
    toInput: ({ body }) => body,
    status: 202,
    response: "The new VM: { id, jobId, … }; follow jobId.",
  },
  {
    operationId: "getVm",
    method: "GET",
    path: "/vms/{id}",
    procedure: "vms.get",
    tag: "VMs",
    summary: "Show one VM.",
    toInput: ({ params }) => ({ id: params.id }),
    response: "The VM.",
  },
  ...(["start", "stop", "restart"] as const).map((action): RestOperation => ({
    operationId: `${action}Vm`,
    method: "POST",
    path: `/vms/{id}/${action}`,
    procedure: `vms.${action}`,
    tag: "VMs",
    summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM. Queues a job.`,
    toInput: ({ params }) => ({ id: params.id }),
    status: 202,
    response: "The queued job.",
  })),
  {
    operationId: "destroyVm",
    method: "POST",
    path: "/vms/{id}/destroy",
    procedure: "vms.destroy",
    tag: "VMs",
    summary: "Destroy a VM, in any state. confirmName must be the VM's name.",
    body: () => z.object({ confirmName: z.string().max(100).describe("The VM's name, as a guard against destroying the wrong one.") }),
    toInput: ({ params, body }) => ({ id: params.id, confirmName: (body as { confirmName?: unknown } | null)?.confirmName }),
    status: 202,
    response: "The queued destroy job.",
  },
  {
    operationId: "listVmJobs",
    method: "GET",
    path: "/vms/{id}/jobs",
    procedure: "vms.jobs",
    tag: "Jobs",
    summary: "A VM's jobs, newest first (the last 100).",
    toInput: ({ params }) => ({ id: params.id }),
    response: "An array of jobs.",
  },
  {
    operationId: "getJob",
    method: "GET",
    path: "/jobs/{jobId}",
    procedure: "vms.job",
    tag: "Jobs",
    summary: "A job's state and output. Poll with fromOffset = the previous offset + output length until state is no longer QUEUED or RUNNING.",
    query: z.object({ fromOffset: z.coerce.number().int().min(0).optional().describe("Return the output from this character on.") }),
    toInput: ({ params, query }) => ({ jobId: params.jobId, fromOffset: query.fromOffset }),
    response: "{ id, vmId, kind, state, step, progress, message, exitCode, offset, output, length, … }",
  },
  {
    operationId: "cancelJob",
    method: "POST",
    path: "/jobs/{jobId}/cancel",
    procedure: "vms.cancelJob",
    tag: "Jobs",
    summary: "Cancel a queued job, or a running create.",
    toInput: ({ params }) => ({ jobId: params.jobId }),
    response: "The job.",
  },
  {
    operationId: "getCurrentMetrics",
    method: "GET",
    path: "/metrics/current",
    procedure: "metrics.current",
    tag: "Metrics",
    summary: "The host's latest readings and your VMs' (an admin token: every VM's).",
    toInput: () => undefined,
    response: "The current state.",
  },
  {
    operationId: "getHostMetricsHistory",
    method: "GET",
    path: "/metrics/history",
    procedure: "metrics.hostHistory",
    tag: "Metrics",
    summary: "The host's metric history over a range.",
    query: historyQuery,
    toInput: ({ query }) => query,
    response: "Series of points per metric.",
  },
  {
    operationId: "getVmCurrentMetrics",
    method: "GET",
    path: "/vms/{id}/metrics/current",
    procedure: "metrics.vmCurrent",
    tag: "Metrics",
    summary: "A VM's latest readings.",
    toInput: ({ params }) => ({ vmId: params.id }),
    response: "The VM's current readings.",
  },
  {
    operationId: "getVmMetricsHistory",
    method: "GET",
    path: "/vms/{id}/metrics/history",
    procedure: "metrics.vmHistory",
    tag: "Metrics",
    summary: "A VM's metric history over a range.",
    query: historyQuery,
    toInput: ({ params, query }) => ({ ...query, vmId: params.id }),
    response: "Series of points per metric.",
  },
  {
    operationId: "listEvents",
    method: "GET",
    path: "/events",
    procedure: "events.list",
    tag: "Events",
    summary: "One page of the events you may see, newest first. Pass nextCursor as cursor for the next page.",
    query: z.object({
      type: z.enum(EVENT_TYPES).optional(),
      severity: z.enum(SEVERITIES).optional(),
      from: z.string().max(40).optional().describe("ISO 8601 time: events at or after it."),
      to: z.string().max(40).optional().describe("ISO 8601 time: events at or before it."),
      user: z.string().max(320).optional().describe("A user id or email (admins)."),
      vm: z.string().max(100).optional().describe("A VM id."),
      q: z.string().max(200).optional().describe("Text the message, actor email or source IP contains."),
      cursor: z.string().max(100).optional(),
      limit: z.coerce.number().int().min(1).max(200).optional(),
    }),
    toInput: ({ query }) => query,
    response: "{ items, nextCursor }",
  },
  {
    operationId: "getEvent",
    method: "GET",
    path: "/events/{id}",
    procedure: "events.get",
    tag: "Events",
    summary: "One event.",
    toInput: ({ params }) => ({ id: params.id }),
    response: "The event.",
  },
];

/** The scope a token needs for an operation: the procedure's own `.meta({ scope })`. */
export function scopeOf(procedure: string): ApiScope | undefined {
  const proc = (appRouter._def.procedures as unknown as Record<string, { _def: { meta?: { scope?: ApiScope } } } | undefined>)[procedure];
  return proc?._def.meta?.scope;
}

function match(op: RestOperation, segments: string[]): Params | null {
  const pattern = op.path.split("/").filter(Boolean);
  if (pattern.length !== segments.length) return null;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.startsWith("{")) params[p.slice(1, -1)] = s;
    else if (p !== s) return null;
  }
  return params;
}

// JSON has no BigInt (a job's process start time is one): send it as a string.
const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
  new Response(
    JSON.stringify(value ?? null, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
    {
      status,
      headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
    },
  );

const problem = (status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message, ...extra } }, headers);

const unauthorized = (message: string) => problem(401, "UNAUTHORIZED", message, {}, { "www-authenticate": 'Bearer realm="twarga", error="invalid_token"' });

function fieldErrorsOf(err: unknown) {
  return err instanceof ZodError ? z.flattenError(err).fieldErrors : undefined;
}

/** Answers one request under REST_BASE. */
export async function handleRestRequest(db: Db, request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (tokenInQueryString(request.url))
    return problem(
      400,
      "TOKEN_IN_URL",
      "Tokens are not accepted in the URL (URLs end up in logs). Send `Authorization: Bearer <token>`; consider this token exposed and revoke it.",
    );
  const segments = url.pathname.slice(REST_BASE.length).split("/").filter(Boolean).map(decodeURIComponent);
  const candidates = REST_OPERATIONS.map((op) => ({ op, params: match(op, segments) })).filter((c) => c.params !== null);
  if (candidates.length === 0) return problem(404, "NOT_FOUND", `No such endpoint: ${url.pathname}. See /api/openapi.json.`);
  const found = candidates.find((c) => c.op.method === request.method);
  if (!found)
    return problem(
      405,
      "METHOD_NOT_ALLOWED",
      `Use ${candidates.map((c) => c.op.method).join(" or ")}.`,
      {},
      { allow: candidates.map((c) => c.op.method).join(", ") },
    );
  const { op } = found;
  const params = found.params!;

  const bearer = bearerTokenOf(request.headers);
  if (!bearer) return unauthorized("Send `Authorization: Bearer <token>`; create a token on the API tokens settings page.");
  const requestInfo = requestInfoFrom(request.headers);
  const auth = await authenticateApiToken(db, bearer, requestInfo);
  if (!auth) return unauthorized("The token is unknown, revoked or expired, or its user is disabled.");

  const query = op.query ? op.query.safeParse(Object.fromEntries(url.searchParams)) : { success: true as const, data: {} };
  if (!query.success) return problem(400, "BAD_REQUEST", "Invalid query parameters.", { fieldErrors: fieldErrorsOf(query.error) });

  let body: unknown = undefined;
  if (op.body) {
    let text: string;
    try {
      text = await readBodyText(request, REST_MAX_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return problem(413, "PAYLOAD_TOO_LARGE", err.message);
      throw err;
    }
    try {
      body = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      return problem(400, "BAD_REQUEST", "The body is not valid JSON.");
    }
  }

  const ctx: Context = { db, actor: auth.actor, tokenScopes: auth.scopes, ...requestInfo };
  let target: unknown = createCaller(ctx);
  for (const key of op.procedure.split(".")) target = (target as Record<string, unknown>)[key];
  try {
    const result = await (target as (input: unknown) => Promise<unknown>)(op.toInput({ params, query: query.data as Record<string, unknown>, body }));
    return json(op.status ?? 200, result);
  } catch (err) {
    if (err instanceof TRPCError) {
      const status = getHTTPStatusCodeFromError(err);
      if (status >= 500) console.error(`[api] ${op.operationId}:`, err);
      const message = status >= 500 ? "Internal error." : err.message;
      return problem(status, err.code, message, fieldErrorsOf(err.cause) ? { fieldErrors: fieldErrorsOf(err.cause) } : {});
    }
    console.error(`[api] ${op.operationId}:`, err);
    return problem(500, "INTERNAL_SERVER_ERROR", "Internal error.");
  }
}
