// Reading the Event table in write order (Event.seq) from a named position
// kept in the database (EventCursor), so a reader in the background process
// sees every event that any process committed, once, across restarts.
//
// Once: an event the reader acts on is handled in the same transaction that
// moves the cursor past it, and the move is a compare-and-set on the old
// position. A second reader (another process) that read the same event finds
// the position moved, rolls its transaction back and reads again.
//
// Holes: PostgreSQL hands out seq when a row is inserted, not when its
// transaction commits, so seq 11 can be visible while 10 is still in flight
// (or was rolled back and will never appear). The reader stops at a hole and
// waits for it, from when it first saw it, up to gapWaitMs, then reads past
// it. SQLite serializes writers and a rolled-back insert gives its seq back,
// so there a hole only comes from deleted rows.
//
// An event whose handling keeps failing (not a transient lock or conflict) is
// tried MAX_FAILURES times, then logged and read past, so one bad row cannot
// stop the reader for good.
import type { Event } from "../../generated/prisma/sqlite/client";
import type { Db } from "../db/client";
import { isTransientTransactionFailure, type Tx } from "../db/retry";

export interface EventCursorOptions {
  /** Events read per query. */
  batchSize?: number;
  /** How long a hole in seq is waited for before it is read past (default 30 s: longer than any transaction that records an event). */
  gapWaitMs?: number;
  /** The clock for hole waits (ms). */
  now?: () => number;
}

/** What a reader does with events: which ones it acts on, and how (inside the transaction that moves the cursor past the event). */
export interface EventHandler {
  wants(event: Event): boolean;
  handle(tx: Tx, event: Event): Promise<void>;
}

/** The position moved under this reader: another reader got there first. */
class CursorMoved extends Error {}

const MAX_FAILURES = 3;

export class EventCursor {
  private readonly holes = new Map<number, number>();
  private readonly failures = new Map<number, number>();
  private readonly batchSize: number;
  private readonly gapWaitMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    readonly name: string,
    opts: EventCursorOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 200;
    this.gapWaitMs = opts.gapWaitMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** The position: the seq of the last event read (0 for a reader that never read). */
  async position(): Promise<number> {
    const row = await this.db.eventCursor.findUnique({ where: { name: this.name }, select: { position: true } });
    if (row) return row.position;
    await this.db.eventCursor.create({ data: { name: this.name, position: 0 } }).catch((err: unknown) => {
      if ((err as { code?: string }).code !== "P2002") throw err; // another reader made it
    });
    return 0;
  }

  /**
   * Reads the events after the position until none is left (or a hole must be
   * waited for), hands the ones the handler wants to it, and moves the
   * position. Returns how many events it read past.
   */
  async readNew(handler: EventHandler): Promise<number> {
    let read = 0;
    for (;;) {
      const start = await this.position();
      const rows = await this.db.event.findMany({ where: { seq: { gt: start } }, orderBy: { seq: "asc" }, take: this.batchSize });
      let position = start;
      let moved = start;
      let stopped = false;
      try {
        for (const event of rows) {
          if (event.seq !== position + 1 && !this.holeWaited(position + 1)) {
            stopped = true;
            break;
          }
          if (handler.wants(event)) {
            const from = moved;
            try {
              await this.db.$transaction(async (tx) => {
                await this.move(tx, from, event.seq);
                await handler.handle(tx, event);
              });
            } catch (err) {
              if (err instanceof CursorMoved || isTransientTransactionFailure(err)) throw err;
              const failures = (this.failures.get(event.seq) ?? 0) + 1;
              this.failures.set(event.seq, failures);
              if (failures < MAX_FAILURES) throw err;
              console.error(`[events] ${this.name}: event ${event.id} (seq ${event.seq}) failed ${failures} times; reading past it:`, err);
              await this.move(this.db, from, event.seq);
            }
            this.failures.delete(event.seq);
            moved = event.seq;
          }
          position = event.seq;
          read++;
        }
        if (position !== moved) await this.move(this.db, moved, position);
      } catch (err) {
        if (err instanceof CursorMoved) return read;
        throw err;
      }
      for (const hole of this.holes.keys()) if (hole <= position) this.holes.delete(hole);
      if (stopped || rows.length < this.batchSize) return read;
    }
  }

  /** Whether the hole at `seq` has been waited for long enough (starting the wait if it is new). */
  private holeWaited(seq: number): boolean {
    const now = this.now();
    const since = this.holes.get(seq);
    if (since !== undefined) return now - since >= this.gapWaitMs;
    this.holes.set(seq, now);
    return this.gapWaitMs <= 0;
  }

  private async move(client: Db | Tx, from: number, to: number) {
    const { count } = await client.eventCursor.updateMany({ where: { name: this.name, position: from }, data: { position: to } });
    if (count !== 1) throw new CursorMoved(`${this.name} moved past ${from} elsewhere`);
  }
}
