// Retrying database work through a transient failure, with one loop and two
// policies:
// - retryDb: any failure that does not say the data itself is wrong (a SQLite
//   writer that waited out its busy timeout, a PostgreSQL connection cut or
//   refused for a while), with pauses growing from 0.5 s to 8 s;
// - retryTransaction: a transaction the database refused because a concurrent
//   one held or changed what it needed. Such a transaction was rolled back, so
//   running it again is safe; short random pauses keep the same transactions
//   from colliding again at once.
import type { Db } from "./client";

/** A transaction client: what `db.$transaction(async (tx) => …)` hands its callback. */
export type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

export interface RetryOptions {
  /** Tries in all, the first included (default 6). */
  attempts?: number;
  /** Pause after the first failure; each further pause doubles, up to maxDelayMs (defaults 500 ms and 8 s). */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** Unique and foreign key violations, and a row that is not there. */
const PERMANENT_CODES = new Set(["P2002", "P2003", "P2025"]);

// By the error's code and name, not instanceof: the SQLite and PostgreSQL clients are generated separately.
export function isTransientDbError(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown } | null;
  return !(typeof e?.code === "string" && PERMANENT_CODES.has(e.code)) && e?.name !== "PrismaClientValidationError";
}

/**
 * PostgreSQL: a serialization failure or a deadlock (Prisma P2034, SQLSTATE
 * 40001 / 40P01). SQLite: another process kept the write lock past the busy
 * timeout (SQLITE_BUSY, "database is locked"; Prisma reports it as P2010 from a
 * raw query and as a timed-out operation from a model query).
 */
export function isTransientTransactionFailure(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return (
    e?.code === "P2034" ||
    /could not serialize|40001|40P01|deadlock detected|TransactionWriteConflict|SQLITE_BUSY|database is locked|Operation has timed out/i.test(e?.message ?? "")
  );
}

/** One line for a log or a job's message: Prisma's messages start with where the call was made and end with what the database said. */
export function dbErrorText(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split("\n").map((l) => l.trim());
  return lines.filter((l) => l !== "").at(-1) ?? "unknown error";
}

/** The one retry loop: runs `work` until it succeeds, fails for good, or has run `attempts` times; the last error is thrown. */
async function retrying<T>(
  work: () => Promise<T>,
  policy: {
    attempts: number;
    retryable(err: unknown): boolean;
    pauseMs(attempt: number): number;
    onRetry?(attempt: number, err: unknown, pauseMs: number): void;
  },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= policy.attempts || !policy.retryable(err)) throw err;
      const pause = policy.pauseMs(attempt);
      policy.onRetry?.(attempt, err, pause);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** Runs `work`, again after a growing pause while it fails transiently. */
export function retryDb<T>(what: string, work: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 6);
  const first = opts.firstDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 8_000;
  return retrying(work, {
    attempts,
    retryable: isTransientDbError,
    pauseMs: (attempt) => Math.min(first * 2 ** (attempt - 1), max),
    onRetry: (attempt, err, pause) => console.warn(`[db] ${what} failed (try ${attempt} of ${attempts}, again in ${pause} ms): ${dbErrorText(err)}`),
  });
}

/** Runs `transaction` again, after a short random wait, while the database refuses it for a concurrent one; at most `attempts` runs in all. */
export function retryTransaction<T>(transaction: () => Promise<T>, attempts = 10): Promise<T> {
  return retrying(transaction, { attempts, retryable: isTransientTransactionFailure, pauseMs: (attempt) => 20 * attempt + Math.random() * 30 });
}
