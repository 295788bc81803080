// A separately started OIDC issuer for tests: the same oidc-provider-based
// server the app embeds, run as its own process and configured in the app as
// an *external* provider (AUTH_OIDC_*), to prove that path end to end.
// Usage: tsx tests/support/oidc-issuer.ts <port> <clientId> <clientSecret> <redirectUri>...
import { startLocalIdp } from "../../src/server/auth/local-idp";

const [port, clientId, clientSecret, ...redirectUris] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || redirectUris.length === 0) {
  console.error("usage: oidc-issuer.ts <port> <clientId> <clientSecret> <redirectUri>...");
  process.exit(2);
}
const idp = await startLocalIdp({ host: "127.0.0.1", port: Number(port), clients: [{ clientId, clientSecret, redirectUris }], title: "Partner SSO (test issuer)" });
console.log(`test issuer ready at ${idp.issuer}`);
const stop = () => void idp.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
