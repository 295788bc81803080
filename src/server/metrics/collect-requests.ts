// "Collect now" asked in one process, carried out by the process that runs the
// sampler. On PostgreSQL it is a notification on one channel, which the
// sampler's process listens to on a connection of its own: the tick starts at
// once and nothing polls while idle. SQLite has no such channel; the sampler's
// process then collects at its next scheduled tick (at most
// SAMPLER_INTERVAL_MS later), which the asking process waits for.
import pg from "pg";
import { providerOf, providerOfClient, type Db } from "../db/client";

export const COLLECT_CHANNEL = "twarga_collect_now";
const RECONNECT_MS = 5000;

/** Asks every listening sampler to collect now (no-op on SQLite). */
export async function requestCollect(db: Db): Promise<void> {
  if (providerOfClient(db) === "postgresql") await db.$executeRawUnsafe(`SELECT pg_notify('${COLLECT_CHANNEL}', '')`);
}

/**
 * Calls onRequest for every request until stop(). On PostgreSQL it holds one
 * connection with LISTEN, reconnecting after RECONNECT_MS when it drops; on
 * SQLite it does nothing.
 */
export function listenForCollectRequests(databaseUrl: string, onRequest: () => void, log: (m: string) => void = (m) => console.warn(`[sampler] ${m}`)) {
  if (providerOf(databaseUrl) !== "postgresql") return { stop: async () => {} };
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  let failing = false;

  const connect = async () => {
    const c = new pg.Client({ connectionString: databaseUrl });
    const lost = (err?: unknown) => {
      if (client !== c) return;
      client = null;
      void c.end().catch(() => {});
      if (stopped) return;
      if (!failing)
        log(`collect-now listener lost its connection (${err instanceof Error ? err.message : "closed"}); reconnecting every ${RECONNECT_MS / 1000} s`);
      failing = true;
      retry = setTimeout(() => void connect(), RECONNECT_MS);
      retry.unref?.();
    };
    client = c;
    c.on("notification", (n) => {
      if (n.channel === COLLECT_CHANNEL) onRequest();
    });
    c.on("error", lost);
    c.on("end", () => lost());
    try {
      await c.connect();
      await c.query(`LISTEN ${COLLECT_CHANNEL}`);
      failing = false;
    } catch (err) {
      lost(err);
    }
  };
  const ready = connect();

  return {
    /** Resolves once the first connection attempt has finished (listening, or retrying). */
    ready,
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await ready;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
