// A separately started OIDC issuer for tests: the same oidc-provider-based
// server the app embeds, run as its own process and configured in the app as
// an *external* provider (AUTH_OIDC_*), to prove that path end to end.
// Usage: tsx tests/support/oidc-issuer.ts <port> <clientId> <clientSecret> <redirectUri>...
// Like an issuer that has not verified every address, it answers
// email_verified: false for accounts whose email starts with UNVERIFIED_PREFIX.
import { pathToFileURL } from "node:url";
import { startLocalIdp } from "../../src/server/auth/local-idp";

export const UNVERIFIED_PREFIX = "unverified.";

/** The issuer's email_verified answer for an account. */
export const issuerVerifies = (email: string) => !email.toLowerCase().startsWith(UNVERIFIED_PREFIX);

async function main() {
  const [port, clientId, clientSecret, ...redirectUris] = process.argv.slice(2);
  if (!port || !clientId || !clientSecret || redirectUris.length === 0) {
    console.error("usage: oidc-issuer.ts <port> <clientId> <clientSecret> <redirectUri>...");
    process.exit(2);
  }
  const idp = await startLocalIdp({
    host: "127.0.0.1",
    port: Number(port),
    clients: [{ clientId, clientSecret, redirectUris }],
    title: "Partner SSO (test issuer)",
    emailVerified: issuerVerifies,
  });
  console.log(`test issuer ready at ${idp.issuer}`);
  const stop = () => void idp.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// Run as a program (the Playwright config starts it); importable for its rule.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
