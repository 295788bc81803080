// What a server process does before it serves: validate settings, bring the
// database up to date, serve the local identity provider when it is enabled,
// and start the background services. Called once from src/instrumentation.ts.
import { env, EnvError, localIdpEnabled } from "./env";
import { migrate } from "./db/migrate";
import { providerOf } from "./db/client";
import { startBackgroundServices, stopBackgroundServices } from "./background";
import { installShutdownHandlers, RECORDING_MARGIN_MS } from "./shutdown";
import { installPeerAddressHeader } from "./request-info";

const globalForStart = globalThis as unknown as { twargaStarted?: Promise<void> };

async function start() {
  // Before anything else, so every request from now on carries its socket's address.
  installPeerAddressHeader();
  let e;
  try {
    e = env();
  } catch (err) {
    if (err instanceof EnvError) {
      console.error(`\n[twarga] ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  try {
    await migrate(e.DATABASE_URL);
  } catch (err) {
    console.error(`\n[twarga] database migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  try {
    const { secureDataFiles } = await import("./data-permissions");
    for (const line of await secureDataFiles(e)) console.log(`[twarga] made owner-only: ${line}`);
  } catch (err) {
    console.error(`\n[twarga] could not make the data folder owner-only: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  if (providerOf(e.DATABASE_URL) === "sqlite") {
    // In WAL mode NORMAL is still crash-safe (a power cut can lose only the
    // last commits) and spares every sampler tick an fsync.
    const { db } = await import("./db");
    await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  }
  if (localIdpEnabled(e)) {
    const { startLocalIdp } = await import("./auth/local-idp");
    const { LOCAL_CLIENT_ID, localIdpClientSecret, localRedirectUris } = await import("./auth/providers");
    try {
      const idp = await startLocalIdp({
        host: e.LOCAL_IDP_HOST,
        port: e.LOCAL_IDP_PORT,
        clients: [{ clientId: LOCAL_CLIENT_ID, clientSecret: localIdpClientSecret(), redirectUris: localRedirectUris() }],
      });
      console.log(`[twarga] local identity provider at ${idp.issuer} (for evaluation; set LOCAL_IDP=off and configure a real provider for production)`);
    } catch (err) {
      console.error(
        `[twarga] could not start the local identity provider on ${e.LOCAL_IDP_HOST}:${e.LOCAL_IDP_PORT}: ${err instanceof Error ? err.message : String(err)} (set LOCAL_IDP_PORT to a free port)`,
      );
    }
  }
  if (e.BACKGROUND_SERVICES) {
    // SIGTERM/SIGINT wait for running VM operations (up to SHUTDOWN_GRACE_S) before Next's own handlers exit.
    installShutdownHandlers({ drain: stopBackgroundServices, limitMs: e.SHUTDOWN_GRACE_S * 1000 + RECORDING_MARGIN_MS });
    await startBackgroundServices();
  } else console.log("[twarga] background services are off (BACKGROUND_SERVICES=false): web only");
}

export function startServer(): Promise<void> {
  // A dev-server reload re-imports modules but keeps globalThis: start once.
  return (globalForStart.twargaStarted ??= start());
}
