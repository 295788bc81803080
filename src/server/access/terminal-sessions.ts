// Browser terminals: each one is a shell in a running VM, opened over SSH with
// the VM's own key (never Vagrant's, never the user's) and held by this web
// process. The browser gets only a random session id, and every use of that id
// is checked against the signed-in user, who must still be allowed on the VM.
//
// Output is kept in a bounded buffer with sequence numbers, so a browser that
// lost its stream for a moment asks for what came after the last number it saw
// and misses nothing while the session is alive. Input is never stored,
// logged or put in an event: only opening and closing are recorded.
//
// One interval per process (while any terminal is open) re-reads the VMs and
// users that have terminals and closes what is no longer allowed: the VM
// stopped or was destroyed, the user was disabled or lost access, no input for
// the idle timeout, or no browser attached for a while.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { Client, ClientChannel } from "ssh2";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { DomainError, forbidden, notFound } from "../errors";
import { canOpenTerminal, canViewVm, type Actor } from "../permissions";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { recordEvent } from "../events/record";
import { connectGuest, type GuestTarget } from "./guest-ssh";
import { vmKeyPaths } from "./vm-key";

/** How often open terminals are checked against the database (VM state, user, idle). */
export const TERMINAL_SWEEP_MS = 3_000;
/** A terminal no browser has been attached to for this long is closed (the tab was closed without saying so). */
export const TERMINAL_DETACHED_MS = 120_000;
/** A closed terminal is remembered this long, so a browser reconnecting after a blip learns why it closed. */
export const TERMINAL_TOMBSTONE_MS = 60_000;
/** Output kept for replay, in characters (a few screens of a busy build log). */
export const TERMINAL_BUFFER_CHARS = 256 * 1024;
export const TERMINAL_MIN_SIZE = { cols: 2, rows: 1 };
export const TERMINAL_MAX_SIZE = { cols: 1000, rows: 500 };
/** The most one input request may carry (a large paste is sent in pieces of this size). */
export const TERMINAL_MAX_INPUT_CHARS = 64 * 1024;

export interface OutputChunk {
  seq: number;
  data: string;
  /** The chunk alone was longer than the buffer: only its end is kept, the rest is missed. */
  cut?: boolean;
}

/**
 * The output of one terminal: numbered chunks, the oldest dropped once the
 * total passes `limit` characters. Sequence numbers start at 1 and never repeat.
 */
export class OutputBuffer {
  // Chunks before `head` are dropped; the array is compacted now and then
  // rather than shifted on every push (echo arrives a character at a time).
  private chunks: OutputChunk[] = [];
  private head = 0;
  private size = 0;
  private next = 1;

  constructor(private readonly limit = TERMINAL_BUFFER_CHARS) {}

  push(data: string): OutputChunk {
    const chunk: OutputChunk = data.length > this.limit ? { seq: this.next++, data: data.slice(-this.limit), cut: true } : { seq: this.next++, data };
    this.chunks.push(chunk);
    this.size += chunk.data.length;
    while (this.size > this.limit && this.chunks.length - this.head > 1) this.size -= this.chunks[this.head++]!.data.length;
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return chunk;
  }

  get lastSeq(): number {
    return this.next - 1;
  }

  /** The chunks after `after`, and whether some of those were already dropped. */
  since(after: number): { chunks: OutputChunk[]; missed: boolean } {
    const first = this.chunks[this.head]?.seq ?? this.next;
    // Sequence numbers are consecutive, so the position of `after` is known without a search.
    const chunks = this.chunks.slice(this.head + Math.max(0, after - first + 1));
    return { chunks, missed: after < first - 1 || chunks.some((c) => c.cut) };
  }
}

export interface TerminalListener {
  output(chunk: OutputChunk): void;
  /** Some output after the browser's last chunk is no longer kept. */
  gap(): void;
  closed(reason: string): void;
}

export interface TerminalOptions {
  maxPerVm: number;
  maxPerUser: number;
  idleMs: number;
  sweepMs: number;
  detachedMs: number;
  tombstoneMs: number;
  bufferChars: number;
  /** How long to wait for the guest's SSH handshake. */
  connectTimeoutMs: number;
  env: Env;
}

export function terminalOptionsFromEnv(e: Env = env()): TerminalOptions {
  return {
    maxPerVm: e.TERMINAL_MAX_PER_VM,
    maxPerUser: e.TERMINAL_MAX_PER_USER,
    idleMs: e.TERMINAL_IDLE_MIN * 60_000,
    sweepMs: TERMINAL_SWEEP_MS,
    detachedMs: TERMINAL_DETACHED_MS,
    tombstoneMs: TERMINAL_TOMBSTONE_MS,
    bufferChars: TERMINAL_BUFFER_CHARS,
    connectTimeoutMs: 15_000,
    env: e,
  };
}

interface Session {
  id: string;
  /** A public handle for the events (the id itself stays out of every record). */
  ref: string;
  vmId: string;
  vmName: string;
  ownerId: string;
  actorId: string;
  actorEmail: string;
  request: RequestInfo;
  openedAt: number;
  lastInputAt: number;
  /** Set once the shell is up and the opening is recorded; only then is the closing recorded. */
  opened: boolean;
  client: Client | null;
  channel: ClientChannel | null;
  output: OutputBuffer;
  decoder: StringDecoder;
  listeners: Set<TerminalListener>;
  detachedSince: number | null;
  /** The last input request applied (a retried request is not typed twice). */
  inputSeq: number;
  closed: { reason: string; at: number } | null;
}

/** What a page may know about a terminal (for tests and the health of the process). */
export interface TerminalSummary {
  ref: string;
  vmId: string;
  actorId: string;
  openedAt: Date;
  closed: string | null;
}

const SESSION_ID = /^[A-Za-z0-9_-]{32,64}$/;

function stateReason(vmName: string, state: string): string {
  switch (state) {
    case "STOPPING":
      return `${vmName} is stopping`;
    case "STOPPED":
      return `${vmName} stopped`;
    case "RESTARTING":
      return `${vmName} is restarting`;
    case "DESTROYING":
      return `${vmName} is being destroyed`;
    case "DESTROYED":
      return `${vmName} was destroyed`;
    case "ERROR":
      return `${vmName} is in error`;
    default:
      return `${vmName} is ${state.toLowerCase()}`;
  }
}

function minutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 1 && Number.isInteger(m) ? `${m} minute${m === 1 ? "" : "s"}` : `${Math.round(ms / 1000)} s`;
}

/** The sweeper may close a terminal while it is still connecting (the VM stopped, the user was disabled). */
function assertStillOpen(session: Session): void {
  if (session.closed) throw new DomainError("CONFLICT", `The terminal was closed while it connected: ${session.closed.reason}.`);
}

export class TerminalSessions {
  private readonly sessions = new Map<string, Session>();
  /** Closing events still being written. */
  private readonly recording = new Set<Promise<unknown>>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private sweeping = false;

  constructor(
    private readonly db: Db,
    private readonly options: TerminalOptions = terminalOptionsFromEnv(),
  ) {}

  /**
   * Opens a shell in the VM as its login user, with a PTY of the browser's
   * size. The same rule as the VM page decides who may: anyone else is told
   * the VM does not exist.
   */
  async open(actor: Actor, input: { vmId: string; cols: number; rows: number }, request: RequestInfo = NO_REQUEST): Promise<{ id: string; vmName: string }> {
    const vm = await this.db.vm.findUnique({
      where: { id: input.vmId },
      select: { id: true, name: true, ownerId: true, state: true, ipAddress: true, sshPort: true, sshUser: true },
    });
    if (!vm || !canViewVm(actor, vm)) throw notFound("VM");
    if (!canOpenTerminal(actor, vm)) throw forbidden("You cannot open a terminal on this VM.");
    if (vm.state !== "RUNNING")
      throw new DomainError(
        "CONFLICT",
        `${stateReason(vm.name, vm.state)}: a terminal needs the VM running${vm.state === "STOPPED" ? " (start it first)" : ""}.`,
      );
    if (!vm.ipAddress) throw new DomainError("CONFLICT", `${vm.name} is running but has no address yet: try again in a moment.`);
    const keyPath = vmKeyPaths(vm.id, this.options.env).privateKey;
    if (!existsSync(keyPath))
      throw new DomainError(
        "PRECONDITION_FAILED",
        `${vm.name} has no key of its own yet (it gets one when it next starts): stop and start it, then open the terminal again.`,
      );

    // The limits count terminals still connecting too, so parallel opens cannot overshoot them.
    const live = this.live();
    const onVm = live.filter((s) => s.vmId === vm.id).length;
    if (onVm >= this.options.maxPerVm)
      throw new DomainError("TOO_MANY_REQUESTS", `${vm.name} already has ${onVm} open terminals, the most allowed on one VM: close one first.`);
    const mine = live.filter((s) => s.actorId === actor.id).length;
    if (mine >= this.options.maxPerUser)
      throw new DomainError("TOO_MANY_REQUESTS", `You already have ${mine} terminals open, the most allowed per user: close one first.`);

    const now = Date.now();
    const session: Session = {
      id: randomBytes(32).toString("base64url"),
      ref: randomBytes(6).toString("hex"),
      vmId: vm.id,
      vmName: vm.name,
      ownerId: vm.ownerId,
      actorId: actor.id,
      actorEmail: actor.email,
      request,
      openedAt: now,
      lastInputAt: now,
      opened: false,
      client: null,
      channel: null,
      output: new OutputBuffer(this.options.bufferChars),
      decoder: new StringDecoder("utf8"),
      listeners: new Set(),
      detachedSince: now,
      inputSeq: 0,
      closed: null,
    };
    this.sessions.set(session.id, session);
    this.startSweeper();
    try {
      const target: GuestTarget = { host: vm.ipAddress, port: vm.sshPort ?? 22, username: vm.sshUser ?? "vagrant" };
      let client: Client;
      try {
        // Only the VM's own key: a terminal must not work through Vagrant's shared one.
        ({ client } = await connectGuest(target, [keyPath], { readyTimeoutMs: this.options.connectTimeoutMs }));
      } catch (err) {
        throw new DomainError(
          "PRECONDITION_FAILED",
          `Could not reach ${vm.name} over SSH (${err instanceof Error ? err.message : String(err)}). If it has just started, try again in a moment.`,
        );
      }
      session.client = client;
      // Keystrokes are tiny packets: send each at once, as OpenSSH does for an interactive session.
      client.setNoDelay(true);
      assertStillOpen(session);
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        client.shell({ term: "xterm-256color", cols: input.cols, rows: input.rows, width: 0, height: 0 }, (err, ch) =>
          err ? reject(new DomainError("PRECONDITION_FAILED", `${vm.name} refused a shell: ${err.message}`)) : resolve(ch),
        ),
      );
      session.channel = channel;
      const onData = (buf: Buffer) => this.emit(session, session.decoder.write(buf));
      channel.on("data", onData);
      channel.stderr.on("data", onData);
      channel.on("close", () => this.end(session, "the shell ended"));
      client.on("close", () => this.end(session, `the SSH connection to ${vm.name} closed`));
      client.on("error", (err: Error) => this.end(session, `the SSH connection to ${vm.name} failed: ${err.message}`));
      assertStillOpen(session);
      await recordEvent(this.db, {
        type: "vm",
        action: "vm.terminal.open",
        message: `${actor.email} opened a terminal on ${vm.name}`,
        actorId: actor.id,
        actorEmail: actor.email,
        targetUserId: vm.ownerId,
        targetVmId: vm.id,
        sourceIp: request.sourceIp,
        userAgent: request.userAgent,
        details: { terminal: session.ref, login: target.username },
      });
      session.opened = true;
      if (session.closed) this.recordClosing(session, session.closed);
      return { id: session.id, vmName: vm.name };
    } catch (err) {
      session.closed ??= { reason: "it could not be opened", at: Date.now() };
      this.sessions.delete(session.id);
      session.client?.end();
      throw err;
    }
  }

  /**
   * Attaches a browser's stream: replays what it has not seen (after `after`),
   * then follows. A closed terminal still answers for a minute with its last
   * output and why it closed. Returns the detach function.
   */
  async attach(actor: Actor, id: string, after: number, listener: TerminalListener): Promise<() => void> {
    const session = await this.authorize(actor, id, true);
    const { chunks, missed } = session.output.since(after);
    if (missed) listener.gap();
    for (const chunk of chunks) listener.output(chunk);
    if (session.closed) {
      listener.closed(session.closed.reason);
      return () => {};
    }
    session.listeners.add(listener);
    session.detachedSince = null;
    return () => {
      if (!session.listeners.delete(listener)) return;
      if (session.listeners.size === 0) session.detachedSince = Date.now();
    };
  }

  /** Types into the terminal. `seq` numbers the browser's input requests; one already applied is ignored (a retry). */
  async write(actor: Actor, id: string, seq: number, data: string): Promise<void> {
    const session = await this.authorizeLive(actor, id);
    if (seq <= session.inputSeq) return;
    session.inputSeq = seq;
    session.lastInputAt = Date.now();
    session.channel?.write(data);
  }

  async resize(actor: Actor, id: string, cols: number, rows: number): Promise<void> {
    const session = await this.authorizeLive(actor, id);
    session.channel?.setWindow(rows, cols, 0, 0);
  }

  async close(actor: Actor, id: string): Promise<void> {
    const session = await this.authorize(actor, id, false);
    this.end(session, "closed by you");
  }

  /** Ends every terminal and waits until their closings are recorded (a graceful stop of the process). */
  async closeAll(reason: string): Promise<void> {
    for (const s of this.live()) this.end(s, reason);
    await Promise.allSettled([...this.recording]);
  }

  /** Stops the checks and forgets everything at once (tests). */
  dispose(): void {
    void this.closeAll("the server is stopping");
    this.stopSweeper();
    this.sessions.clear();
  }

  list(): TerminalSummary[] {
    return [...this.sessions.values()].map((s) => ({
      ref: s.ref,
      vmId: s.vmId,
      actorId: s.actorId,
      openedAt: new Date(s.openedAt),
      closed: s.closed?.reason ?? null,
    }));
  }

  /** Runs the periodic check once (the interval calls this; tests may too). */
  async sweep(now = Date.now()): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const s of this.sessions.values()) if (s.closed && now - s.closed.at >= this.options.tombstoneMs) this.sessions.delete(s.id);
      for (const s of this.live()) {
        if (now - s.lastInputAt >= this.options.idleMs) this.end(s, `no input for ${minutes(this.options.idleMs)}`);
        else if (s.opened && s.detachedSince !== null && now - s.detachedSince >= this.options.detachedMs) this.end(s, "no browser was attached");
      }
      const live = this.live();
      if (live.length > 0) {
        const vmIds = [...new Set(live.map((s) => s.vmId))];
        const userIds = [...new Set(live.map((s) => s.actorId))];
        const [vms, users] = await Promise.all([
          this.db.vm.findMany({ where: { id: { in: vmIds } }, select: { id: true, name: true, state: true, ownerId: true } }),
          this.db.user.findMany({ where: { id: { in: userIds } }, select: { id: true, email: true, role: true, disabled: true } }),
        ]);
        const vmById = new Map(vms.map((v) => [v.id, v]));
        const userById = new Map(users.map((u) => [u.id, u]));
        for (const s of this.live()) {
          const reason = this.refusal(s, vmById.get(s.vmId), userById.get(s.actorId));
          if (reason) this.end(s, reason);
        }
      }
    } catch (err) {
      console.error("[terminals] check failed:", err);
    } finally {
      this.sweeping = false;
      if (this.sessions.size === 0) this.stopSweeper();
    }
  }

  private refusal(
    s: Session,
    vm: { name: string; state: string; ownerId: string } | undefined,
    user: { id: string; email: string; role: "USER" | "ADMIN"; disabled: boolean } | undefined,
  ): string | null {
    if (!user || user.disabled) return "your account was disabled";
    if (!vm) return `${s.vmName} was destroyed`;
    if (vm.state !== "RUNNING") return stateReason(vm.name, vm.state);
    if (!canOpenTerminal({ id: user.id, email: user.email, role: user.role }, vm)) return `you no longer have access to ${vm.name}`;
    return null;
  }

  private live(): Session[] {
    return [...this.sessions.values()].filter((s) => !s.closed);
  }

  /**
   * The actor's own terminal (anyone else's looks missing), on a VM the actor
   * may still open terminals on. The actor is read fresh on every request
   * (role, disabled) and a VM's owner never changes, so the rule is exact
   * without a query; `withState` also re-reads the VM's state, which the
   * periodic check otherwise sees within its interval. Keystrokes skip that
   * read: it would be a database round trip on every key.
   */
  private async authorize(actor: Actor, id: string, withState: boolean): Promise<Session> {
    const session = SESSION_ID.test(id) ? this.sessions.get(id) : undefined;
    if (!session || session.actorId !== actor.id) throw notFound("Terminal");
    if (!canOpenTerminal(actor, { ownerId: session.ownerId })) {
      this.end(session, `you no longer have access to ${session.vmName}`);
      throw notFound("Terminal");
    }
    if (withState && !session.closed) {
      const vm = await this.db.vm.findUnique({ where: { id: session.vmId }, select: { name: true, state: true } });
      if (!vm) this.end(session, `${session.vmName} was destroyed`);
      else if (vm.state !== "RUNNING") this.end(session, stateReason(vm.name, vm.state));
    }
    return session;
  }

  private async authorizeLive(actor: Actor, id: string): Promise<Session> {
    const session = await this.authorize(actor, id, false);
    if (session.closed) throw new DomainError("CONFLICT", `The terminal is closed: ${session.closed.reason}.`);
    return session;
  }

  private emit(session: Session, text: string): void {
    if (!text || session.closed) return;
    const chunk = session.output.push(text);
    for (const l of session.listeners) l.output(chunk);
  }

  private end(session: Session, reason: string): void {
    if (session.closed) return;
    this.emit(session, session.decoder.end());
    session.closed = { reason, at: Date.now() };
    session.channel?.end();
    session.client?.end();
    for (const l of [...session.listeners]) l.closed(reason);
    session.listeners.clear();
    // A terminal that ends while its opening is still being recorded has its closing recorded right after (open()).
    if (session.opened) this.recordClosing(session, session.closed);
  }

  private recordClosing(session: Session, { reason, at }: { reason: string; at: number }): void {
    const durationS = Math.round((at - session.openedAt) / 1000);
    const written = recordEvent(this.db, {
      type: "vm",
      action: "vm.terminal.close",
      message: `${session.actorEmail}'s terminal on ${session.vmName} closed after ${durationS} s: ${reason}`,
      actorId: session.actorId,
      actorEmail: session.actorEmail,
      targetUserId: session.ownerId,
      targetVmId: session.vmId,
      sourceIp: session.request.sourceIp,
      userAgent: session.request.userAgent,
      details: { terminal: session.ref, durationS, reason },
    })
      .catch((err: unknown) => console.error("[terminals] could not record a closing:", err))
      .finally(() => this.recording.delete(written));
    this.recording.add(written);
  }

  private startSweeper(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.options.sweepMs);
    // Terminals alone must not keep a process (a test, a script) alive.
    this.timer.unref();
  }

  private stopSweeper(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

// On globalThis: Next bundles each route handler separately, each with its own
// copy of this module; the terminals of the process must be one registry.
const globalForTerminals = globalThis as unknown as { twargaTerminals?: TerminalSessions };

/** The terminals of this process (settings read when the first one is needed). */
export function terminalSessions(db: Db): TerminalSessions {
  return (globalForTerminals.twargaTerminals ??= new TerminalSessions(db));
}
