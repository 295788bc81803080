// The security headers: a Content-Security-Policy with a fresh nonce for pages
// (set by src/proxy.ts), a closed one for API responses (set by next.config.mjs,
// which knows no request), and the headers that stop framing, sniffing and
// referrer leaks. HSTS on pages when the app's public URL is https (TLS ends at
// a reverse proxy in front of the app; sent over plain http it would pin a name
// that may never get a certificate). Browsers learn HSTS from the pages they
// visit, so API responses need not repeat it.

/** A fresh, unguessable nonce per request (128 bits, base64). */
export function newNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

/**
 * The policy of an HTML page. Scripts run only with this request's nonce
 * ('strict-dynamic' passes trust to the chunks Next's runtime loads from them),
 * so an injected <script> or on* attribute never runs.
 * Styles: 'unsafe-inline', for two reasons. xterm.js (the browser terminal)
 * writes its theme and cell sizes into <style> elements it makes at run time,
 * which can carry no nonce; and React server-renders style={…} props (Tremor's
 * bars, the charts' sizes) as style attributes, which no nonce can cover. A
 * per-page exception would not hold: the terminal also opens after a client-side
 * navigation, which keeps the first page's policy. Inline CSS can neither run
 * script nor load anything that img-src, font-src and connect-src refuse.
 * form-action is left open: the sign-in form (a real form submission until the
 * page has hydrated) is answered with a redirect to the identity provider
 * (GitHub, Google, any OIDC issuer's authorization endpoint), and Chrome checks
 * form-action on every hop of that redirect.
 */
export function pageContentSecurityPolicy(nonce: string, opts: { dev?: boolean } = {}): string {
  return [
    "default-src 'self'",
    // React's development build evaluates code for its error overlay; production never does.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${opts.dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-src 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** API responses (JSON, CSV, server-sent events) are never documents to run anything in. */
export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

export const HSTS = "max-age=63072000";

/** What every response carries, pages and API routes alike (next.config.mjs repeats them for API routes; a test keeps the two equal). */
export const COMMON_SECURITY_HEADERS = {
  "Referrer-Policy": "strict-origin-when-cross-origin",
  "X-Content-Type-Options": "nosniff",
  // For browsers that predate frame-ancestors.
  "X-Frame-Options": "DENY",
} as const;

/** A page's headers, with its nonce. */
export function securityHeaders(opts: { nonce: string; https: boolean; dev?: boolean }): Record<string, string> {
  return {
    "Content-Security-Policy": pageContentSecurityPolicy(opts.nonce, { dev: opts.dev }),
    ...COMMON_SECURITY_HEADERS,
    ...(opts.https ? { "Strict-Transport-Security": HSTS } : {}),
  };
}
