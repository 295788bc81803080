// Follows the host's sshd log (SSHD_LOG_PATH) and records an event for every
// sign-in line. Its position (inode + byte offset) lives in the database so a
// restart continues where the last run stopped:
// - first run: starts at the end of the file (old history is not replayed);
// - rotation (the file renamed to `<path>.1` and a new one created): the rest
//   of the renamed file is read first, then the new file from its start;
// - truncation (same inode, smaller than our offset): read again from 0;
// - a line is consumed only once it ends with a newline, so a half-written
//   line is read whole on the next poll.
// The offset is saved after each recorded event, so a stop between two polls
// neither loses nor repeats a line.
import { open, stat } from "node:fs/promises";
import type { Db } from "../db/client";
import { recordEvent } from "./record";
import { describeSshd, parseSshdLine, type SshdObservation } from "./sshd-parser";

export interface FollowerStats {
  lines: number;
  events: number;
  ignored: number;
  unparseable: number;
}

interface Position {
  inode: string;
  offset: number;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

export function rotatedPathOf(path: string): string {
  return `${path}.1`;
}

async function inodeOf(path: string): Promise<{ inode: string; size: number } | null> {
  try {
    const s = await stat(path, { bigint: true });
    return { inode: s.ino.toString(), size: Number(s.size) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Repeats beyond this many in one folded line are counted in the last event's details, not recorded one by one. */
const MAX_EVENTS_PER_LINE = 100;

/** Records one event per attempt the line stands for (a folded "message repeated N times" line is N attempts). */
export async function recordSshdObservation(db: Db, o: SshdObservation) {
  const { message, severity } = describeSshd(o);
  const events = Math.min(o.repeat, MAX_EVENTS_PER_LINE);
  for (let i = 1; i <= events; i++) {
    await recordEvent(db, {
      type: "ssh",
      action: o.action,
      severity,
      message: o.repeat > 1 ? `${message} (attempt ${i} of ${o.repeat} folded into one log line)` : message,
      sourceIp: o.ip,
      at: o.at,
      details: {
        user: o.user,
        invalidUser: o.invalidUser,
        method: o.method,
        port: o.port,
        host: o.host,
        pid: o.pid,
        key: o.key,
        line: o.line,
        ...(o.repeat > 1 ? { repeat: o.repeat, attempt: i } : {}),
      },
    });
  }
}

export class SshdLogFollower {
  private busy: Promise<FollowerStats> | null = null;

  constructor(
    private readonly db: Db,
    readonly path: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async load(): Promise<Position | null> {
    const row = await this.db.logFollowerState.findUnique({ where: { path: this.path } });
    return row ? { inode: row.inode, offset: Number(row.offset) } : null;
  }

  private async save(pos: Position, unparseable = 0) {
    await this.db.logFollowerState.upsert({
      where: { path: this.path },
      create: { path: this.path, inode: pos.inode, offset: BigInt(pos.offset), unparseable },
      update: { inode: pos.inode, offset: BigInt(pos.offset), ...(unparseable ? { unparseable: { increment: unparseable } } : {}) },
    });
  }

  /** Reads what was appended since the last poll. Concurrent calls share one run. */
  poll(): Promise<FollowerStats> {
    this.busy ??= this.pollOnce().finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private async pollOnce(): Promise<FollowerStats> {
    const stats: FollowerStats = { lines: 0, events: 0, ignored: 0, unparseable: 0 };
    const current = await inodeOf(this.path);
    let pos = await this.load();
    if (!pos) {
      if (current) await this.save({ inode: current.inode, offset: current.size });
      return stats;
    }
    if (!current || current.inode !== pos.inode) {
      // Rotated (or being rotated): finish the old file where it now lives.
      const rotatedPath = rotatedPathOf(this.path);
      const rotated = await inodeOf(rotatedPath);
      if (rotated?.inode === pos.inode) pos = await this.readFrom(rotatedPath, pos, stats, { final: !!current });
      else if (current)
        console.warn(`[sshd-follower] ${this.path} was replaced and the previous file was not found at ${rotatedPath}; continuing with the new file`);
      if (!current) return stats;
      pos = { inode: current.inode, offset: 0 };
      await this.save(pos);
    } else if (current.size < pos.offset) {
      pos = { inode: pos.inode, offset: 0 };
      await this.save(pos);
    }
    await this.readFrom(this.path, pos, stats, { final: false });
    return stats;
  }

  /**
   * Reads complete lines from `pos.offset` to the end of `file`. With `final`
   * (a rotated file no one writes any more) a last line without newline counts too.
   */
  private async readFrom(file: string, start: Position, stats: FollowerStats, opts: { final: boolean }): Promise<Position> {
    const handle = await open(file, "r");
    const pos = { ...start };
    // Unparseable lines are counted in the saved state along with the offset.
    let unparseable = 0;
    const handleLine = async (line: string, bytes: number) => {
      pos.offset += bytes;
      const kind = await this.consume(line, stats);
      if (kind === "unparseable") unparseable++;
      if (kind === "event") {
        await this.save(pos, unparseable);
        unparseable = 0;
      }
    };
    try {
      let carry = Buffer.alloc(0);
      let readAt = pos.offset;
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, CHUNK, readAt);
        if (bytesRead === 0) break;
        readAt += bytesRead;
        let data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
        let nl: number;
        while ((nl = data.indexOf(NEWLINE)) >= 0) {
          await handleLine(data.subarray(0, nl).toString("utf8"), nl + 1);
          data = data.subarray(nl + 1);
        }
        carry = Buffer.from(data);
        await this.save(pos, unparseable);
        unparseable = 0;
      }
      if (opts.final && carry.length > 0) {
        await handleLine(carry.toString("utf8"), carry.length);
        await this.save(pos, unparseable);
      }
    } finally {
      await handle.close();
    }
    return pos;
  }

  /** Handles one line: records an event for a sign-in line. */
  private async consume(line: string, stats: FollowerStats): Promise<"event" | "ignored" | "unparseable" | "blank"> {
    if (line.trim() === "") return "blank";
    stats.lines++;
    const parsed = parseSshdLine(line, this.now());
    if (parsed.kind === "event") {
      await recordSshdObservation(this.db, parsed.observation);
      stats.events++;
    } else stats[parsed.kind]++;
    return parsed.kind;
  }
}

/** Lines the follower could not parse since it first ran, for the health page. */
export async function followerStatus(db: Db, path: string) {
  const row = await db.logFollowerState.findUnique({ where: { path } });
  return row ? { path, inode: row.inode, offset: Number(row.offset), unparseable: row.unparseable, updatedAt: row.updatedAt } : null;
}

/** Polls the log every `intervalMs` until stopped. */
export function startSshdFollower(db: Db, path: string, intervalMs = 1000): { follower: SshdLogFollower; stop(): Promise<void> } {
  const follower = new SshdLogFollower(db, path);
  let stopped = false;
  let warned = false;
  const tick = async () => {
    try {
      await follower.poll();
      warned = false;
    } catch (err) {
      // An unreadable log (permissions, missing) is reported once, then retried quietly.
      if (!warned) console.error(`[sshd-follower] cannot read ${path}:`, err instanceof Error ? err.message : err);
      warned = true;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref?.();
  void tick();
  return {
    follower,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await follower.poll().catch(() => undefined);
    },
  };
}
