// The OpenAPI 3.1 document of the REST surface, served at /api/openapi.json.
// Built from REST_OPERATIONS and their zod schemas (z.toJSONSchema), with each
// operation's scope read from its procedure, so the document cannot drift from
// what /api/v1 answers. tests/integration/api/openapi.test.ts calls every path.
import { z } from "zod";
import { API_SCOPES, SCOPE_DESCRIPTIONS } from "../auth/api-scopes";
import { appVersion } from "../version";
import { REST_BASE, REST_OPERATIONS, scopeOf } from "./rest";

type JsonSchema = Record<string, unknown>;
const schemaOf = (schema: z.ZodType): JsonSchema => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return rest;
};

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of REST_OPERATIONS) {
    const scope = scopeOf(op.procedure);
    const parameters: unknown[] = [];
    for (const name of op.path.match(/\{(\w+)\}/g) ?? []) {
      parameters.push({ name: name.slice(1, -1), in: "path", required: true, schema: { type: "string" } });
    }
    if (op.query) {
      const q = schemaOf(op.query) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        const { description, ...rest } = schema as JsonSchema & { description?: string };
        parameters.push({ name, in: "query", required: q.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
      }
    }
    const status = String(op.status ?? 200);
    (paths[`${REST_BASE}${op.path}`] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      tags: [op.tag],
      "x-trpc-procedure": op.procedure,
      "x-token-scope": scope,
      security: [{ bearerToken: scope ? [scope] : [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(op.body()) } } } } : {}),
      responses: {
        [status]: { description: op.response, content: { "application/json": { schema: {} } } },
        "400": errorResponse("Invalid input (fieldErrors names the fields), or a token in the URL."),
        "401": errorResponse("No token, or an unknown, revoked or expired one, or its user is disabled."),
        "403": errorResponse("The token lacks the scope, or its user may not do this."),
        "404": errorResponse("Not found, or not yours."),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Twarga Cloud API",
      version: appVersion(),
      description: "Personal API tokens (create one under Settings → API tokens) in `Authorization: Bearer <token>`. See docs/api.md.",
    },
    servers: [{ url: "/" }],
    tags: [{ name: "VMs" }, { name: "Jobs" }, { name: "Metrics" }, { name: "Events" }],
    paths,
    components: {
      securitySchemes: {
        bearerToken: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "twc_<40 characters>",
          description: `Scopes: ${API_SCOPES.map((s) => `\`${s}\` (${SCOPE_DESCRIPTIONS[s]})`).join("; ")}`,
        },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: { code: { type: "string" }, message: { type: "string" }, fieldErrors: { type: "object" } },
            },
          },
        },
      },
    },
  };
}
