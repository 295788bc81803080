// Who is on the other end of a request, as far as the headers say: the first
// X-Forwarded-For hop (set by a reverse proxy), else X-Real-IP; and the user
// agent. Used for events by both tRPC and Auth.js.
export interface RequestInfo {
  sourceIp: string | null;
  userAgent: string | null;
}

/** For work no request asked for (background jobs, tests). */
export const NO_REQUEST: RequestInfo = { sourceIp: null, userAgent: null };

export function requestInfoFrom(headers: Headers): RequestInfo {
  const forwarded = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  return { sourceIp: forwarded || headers.get("x-real-ip") || null, userAgent: headers.get("user-agent") };
}
