// Passes the requested path to server components (layouts cannot see it) so
// a signed-out visitor returns to where they were going after sign-in.
// Authorization is NOT decided here: every page and procedure checks itself.
import { NextResponse, type NextRequest } from "next/server";

export const REQUEST_PATH_HEADER = "x-twarga-path";

export function proxy(request: NextRequest) {
  const headers = new Headers(request.headers);
  headers.set(REQUEST_PATH_HEADER, request.nextUrl.pathname + request.nextUrl.search);
  return NextResponse.next({ request: { headers } });
}

export const config = {
  matcher: ["/((?!api|_next/static|_next/image|favicon.ico).*)"],
};
