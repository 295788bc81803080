// Every free-text field a procedure accepts has a maximum length, and every
// list a maximum size: walked from the app router's procedures and their zod
// input schemas, so a new procedure with an unbounded string fails here. (The
// body limit of the tRPC route caps a whole request; these keep one field from
// filling a database column or a log line with a megabyte.)
import "../integration/vms/harness";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { appRouter } from "~/server/api/root";
import { createVmInputSchema, specSchema } from "~/server/vms/spec";

type Def = { type: string; checks?: Array<{ _zod: { def: { check: string } } }>; [k: string]: unknown };
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;
/** Whether a string or array schema carries .max() or .length(). */
const hasMax = (def: Def) => (def.checks ?? []).some((c) => ["max_length", "length_equals"].includes(c._zod.def.check));

/** Paths ("input.label", "input.userIds[]") of strings without a maximum length and arrays without a maximum size. */
function unbounded(schema: z.ZodType, at = "input", seen = new Set<unknown>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = defOf(schema);
  const inner = (key: string) => unbounded(def[key] as z.ZodType, at, seen);
  switch (def.type) {
    case "string":
      return hasMax(def) ? [] : [at];
    case "array":
      return [...(hasMax(def) ? [] : [`${at} (list)`]), ...unbounded(def.element as z.ZodType, `${at}[]`, seen)];
    case "object":
      return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([k, v]) => unbounded(v, `${at}.${k}`, seen));
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      return inner("innerType");
    case "pipe":
      return [...inner("in"), ...inner("out")];
    case "union":
      return (def.options as z.ZodType[]).flatMap((o) => unbounded(o, at, seen));
    case "intersection":
      return [...inner("left"), ...inner("right")];
    case "record":
    case "map":
    case "set":
    case "any":
    case "unknown":
    case "lazy":
    case "custom":
      // Whatever these hold is not bounded by the schema: use an object with bounded fields instead.
      return [`${at} (${def.type})`];
    default:
      // number, boolean, enum, literal, date, transform, bigint, null…: nothing to bound by length.
      return [];
  }
}

const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { inputs: unknown[] } }>);

describe("input limits", () => {
  it.each(procedures.map(([path, p]) => [path, p._def.inputs] as const))("%s bounds every string and list it accepts", (path, inputs) => {
    const problems: string[] = [];
    for (const input of inputs) {
      if (typeof input === "function" && !("_zod" in input)) {
        // A parser built per request (limits from settings): its schema is checked in the test below.
        expect(["vms.create", "vms.costEstimate"], `${path} takes a hand-written input parser`).toContain(path);
        continue;
      }
      problems.push(...unbounded(input as z.ZodType));
    }
    expect(problems).toEqual([]);
  });

  it("the schemas built per request (launch form, cost estimate) bound theirs too", () => {
    expect(unbounded(createVmInputSchema())).toEqual([]);
    expect(unbounded(specSchema())).toEqual([]);
  });

  it("the walk itself finds an unbounded string, list and record", async () => {
    const { z } = await import("zod");
    expect(unbounded(z.object({ a: z.string(), b: z.array(z.string().max(3)), c: z.record(z.string(), z.string()), d: z.string().max(5).optional() }))).toEqual(
      ["input.a", "input.b (list)", "input.c (record)"],
    );
  });
});
