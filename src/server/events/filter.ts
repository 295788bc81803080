// The feed's filter and its URL form. No server-only imports: the /events page's
// client component parses and writes the same URL with these functions.
import { z } from "zod";
import { EVENT_TYPES, SEVERITIES } from "./record";

export const eventFilterSchema = z.object({
  type: z.enum(EVENT_TYPES).optional(),
  severity: z.enum(SEVERITIES).optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  /** A user id or email: events they caused or that target them. */
  user: z.string().trim().min(1).max(320).optional(),
  vm: z.string().trim().min(1).max(100).optional(),
  /** Free text: message, actor email or source IP contains it. */
  q: z.string().trim().min(1).max(200).optional(),
});
export type EventFilter = z.infer<typeof eventFilterSchema>;

/** Reads a filter from URL search params (the /events page and the export link share the format). */
export function eventFilterFromSearchParams(params: URLSearchParams | Record<string, string | string[] | undefined>): EventFilter {
  const get = (k: string) => {
    const v = params instanceof URLSearchParams ? params.get(k) : params[k];
    const s = Array.isArray(v) ? v[0] : v;
    return s === null || s === undefined || s === "" ? undefined : s;
  };
  const raw = Object.fromEntries(Object.keys(eventFilterSchema.shape).map((k) => [k, get(k)]));
  // Drop individual bad values (a hand-edited URL) rather than failing the page.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const field = eventFilterSchema.shape[k as keyof EventFilter].safeParse(v);
    if (field.success && field.data !== undefined) out[k] = field.data;
  }
  return out as EventFilter;
}

export function eventFilterToSearchParams(filter: EventFilter): URLSearchParams {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== "") p.set(k, v instanceof Date ? v.toISOString() : String(v));
  return p;
}
