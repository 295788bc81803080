/** @type {import("next").NextConfig} */
const nextConfig = {
  // Native and system modules stay outside the server bundle.
  serverExternalPackages: [
    "better-sqlite3",
    "@prisma/adapter-better-sqlite3",
    "@prisma/adapter-pg",
    "pg",
    "systeminformation",
    "oidc-provider",
    "execa",
    // Loads a native crypto addon (sshcrypto.node) at run time.
    "ssh2",
  ],
  poweredByHeader: false,
  // src/proxy.ts sets the security headers of pages (with a nonce per request).
  // API routes and Next's hashed files skip the proxy, so their headers are set
  // here: the same as src/server/security-headers.ts (API_CONTENT_SECURITY_POLICY,
  // COMMON_SECURITY_HEADERS; tests/security/headers.test.ts keeps them equal).
  async headers() {
    const common = [
      { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
      { key: "X-Content-Type-Options", value: "nosniff" },
      { key: "X-Frame-Options", value: "DENY" },
    ];
    return [
      { source: "/api/:path*", headers: [{ key: "Content-Security-Policy", value: "default-src 'none'; frame-ancestors 'none'" }, ...common] },
      { source: "/_next/static/:path*", headers: common },
    ];
  },
  // Lets several builds (e.g. parallel test runs) live side by side.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  typedRoutes: false,
  // forbidden() renders app/forbidden.tsx with a real 403 status.
  experimental: { authInterrupts: true },
};
export default nextConfig;
