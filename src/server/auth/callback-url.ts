// Where to send someone after sign-in or sign-out: the one decision for the
// sign-in page, its server action and Auth.js's redirect callback.
//
// The value comes from the query string or a cookie, so it is hostile until
// proven otherwise. Browsers read "/\evil.example" and "/<tab>/evil.example"
// as "//evil.example" (another host), and a checker that looks at the first
// characters misses them; so the value is resolved the way a browser would,
// against this app's origin, and only the path of a same-origin result is kept.

/** A path on this app ("/…", never "//…"): `raw` when it stays on `origin`, else "/". */
export function safeCallbackPath(raw: unknown, origin: string): string {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 2000) return "/";
  let base: URL;
  let target: URL;
  try {
    base = new URL(origin);
    target = new URL(raw, base);
  } catch {
    return "/";
  }
  if (target.origin !== base.origin || target.username || target.password) return "/";
  // "/.//evil.example" resolves to the path "//evil.example" on this origin: as
  // a Location header on its own, that path would leave. One leading slash only.
  const path = `${target.pathname.replace(/^\/+/, "/")}${target.search}${target.hash}`;
  return leavesWhenDecoded(path, base) ? "/" : path;
}

/**
 * Whether decoding the path again (by a proxy, a framework or a careless
 * reader) would make it leave: "/%2F/evil.example" and "/%5Cevil.example" are
 * paths here, but "//evil.example" and "/\evil.example" once decoded. No page
 * of this app has such a path, so these are refused outright.
 */
function leavesWhenDecoded(path: string, base: URL): boolean {
  let current = path;
  for (let i = 0; i < 3; i++) {
    // Byte by byte, so a stray "%" or a broken UTF-8 escape cannot hide what follows.
    const decoded = current.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === current) return false;
    try {
      if (new URL(decoded, base).origin !== base.origin) return true;
    } catch {
      return true;
    }
    current = decoded;
  }
  return true;
}
