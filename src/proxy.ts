// Runs before every page (not API routes or Next's hashed static files: their
// headers are static and come from next.config.mjs, and the proxy would buffer
// every API request body in memory and add work to each terminal keystroke
// POST). It
// - passes the requested path to server components (layouts cannot see it) so
//   a signed-out visitor returns to where they were going after sign-in;
// - sets the security headers (src/server/security-headers.ts). A page's
//   Content-Security-Policy carries a fresh nonce, which Next reads from the
//   request's copy of the header and puts on every script it renders (the root
//   layout renders per request, so every page gets one).
// Authorization is NOT decided here: every page and procedure checks itself.
import { NextResponse, type NextRequest } from "next/server";
import { env } from "~/server/env";
import { newNonce, securityHeaders } from "~/server/security-headers";

export const REQUEST_PATH_HEADER = "x-twarga-path";

export function proxy(request: NextRequest) {
  const https = env().AUTH_URL?.startsWith("https:") ?? false;
  const security = securityHeaders({ nonce: newNonce(), https, dev: process.env.NODE_ENV === "development" });

  const headers = new Headers(request.headers);
  headers.set(REQUEST_PATH_HEADER, request.nextUrl.pathname + request.nextUrl.search);
  headers.set("Content-Security-Policy", security["Content-Security-Policy"]!);
  const response = NextResponse.next({ request: { headers } });
  for (const [name, value] of Object.entries(security)) response.headers.set(name, value);
  return response;
}

export const config = {
  matcher: ["/((?!api/|api$|_next/static|_next/image).*)"],
};
