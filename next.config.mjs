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
  // Lets several builds (e.g. parallel test runs) live side by side.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  typedRoutes: false,
  // forbidden() renders app/forbidden.tsx with a real 403 status.
  experimental: { authInterrupts: true },
};
export default nextConfig;
