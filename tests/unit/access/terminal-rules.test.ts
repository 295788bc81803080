// The pieces of the browser terminal that need no SSH: who may open one, its
// settings, and the bounded output buffer that replays what a browser missed.
import { describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { canOpenTerminal, type Actor } from "~/server/permissions";
import { OutputBuffer, terminalOptionsFromEnv } from "~/server/access/terminal-sessions";

describe("canOpenTerminal", () => {
  const owner: Actor = { id: "u1", email: "a@example.com", role: "USER" };
  const other: Actor = { id: "u2", email: "b@example.com", role: "USER" };
  const admin: Actor = { id: "u3", email: "c@example.com", role: "ADMIN" };
  const vm = { ownerId: "u1" };

  it("lets the owner and admins in, and nobody else", () => {
    expect(canOpenTerminal(owner, vm)).toBe(true);
    expect(canOpenTerminal(admin, vm)).toBe(true);
    expect(canOpenTerminal(other, vm)).toBe(false);
    expect(canOpenTerminal(null, vm)).toBe(false);
  });
});

describe("terminal settings", () => {
  it("default to 4 per VM, 8 per user and 30 minutes idle, and refuse nonsense", () => {
    const o = terminalOptionsFromEnv(parseEnv({}));
    expect([o.maxPerVm, o.maxPerUser, o.idleMs]).toEqual([4, 8, 30 * 60_000]);
    const set = terminalOptionsFromEnv(parseEnv({ TERMINAL_MAX_PER_VM: "1", TERMINAL_MAX_PER_USER: "2", TERMINAL_IDLE_MIN: "5" }));
    expect([set.maxPerVm, set.maxPerUser, set.idleMs]).toEqual([1, 2, 5 * 60_000]);
    expect(() => parseEnv({ TERMINAL_MAX_PER_VM: "0" })).toThrow(/TERMINAL_MAX_PER_VM/);
    expect(() => parseEnv({ TERMINAL_IDLE_MIN: "soon" })).toThrow(/TERMINAL_IDLE_MIN/);
  });
});

describe("OutputBuffer", () => {
  it("numbers chunks from 1 and replays what came after a given number", () => {
    const b = new OutputBuffer(100);
    expect(b.since(0)).toEqual({ chunks: [], missed: false });
    b.push("a");
    b.push("b");
    b.push("c");
    expect(b.lastSeq).toBe(3);
    expect(b.since(0)).toEqual({
      chunks: [
        { seq: 1, data: "a" },
        { seq: 2, data: "b" },
        { seq: 3, data: "c" },
      ],
      missed: false,
    });
    expect(b.since(2)).toEqual({ chunks: [{ seq: 3, data: "c" }], missed: false });
    expect(b.since(3)).toEqual({ chunks: [], missed: false });
    // A number from the future (another process's session) replays nothing.
    expect(b.since(99)).toEqual({ chunks: [], missed: false });
  });

  it("keeps the end of one chunk longer than the whole buffer, and says the start was missed", () => {
    // Under load a PTY can hand over a flood of output in one piece.
    const b = new OutputBuffer(10);
    b.push("prompt$ ");
    const big = b.push("0123456789abcdefghij");
    expect(big).toEqual({ seq: 2, data: "abcdefghij", cut: true });
    expect(b.since(1)).toEqual({ chunks: [big], missed: true });
    b.push("z");
    expect(b.since(2)).toEqual({ chunks: [{ seq: 3, data: "z" }], missed: false });
  });

  it("drops the oldest output past its limit and says when a reader missed some", () => {
    const b = new OutputBuffer(10);
    for (const s of ["0123", "4567", "89ab", "cdef"]) b.push(s);
    const all = b.since(0);
    expect(all.missed).toBe(true);
    expect(all.chunks.map((c) => c.data).join("")).toBe("89abcdef");
    expect(b.since(2)).toEqual({
      chunks: [
        { seq: 3, data: "89ab" },
        { seq: 4, data: "cdef" },
      ],
      missed: false,
    });
    expect(b.since(1).missed).toBe(true);
    // One chunk larger than the whole buffer keeps its end.
    b.push("x".repeat(15) + "END");
    expect(b.since(4)).toEqual({ chunks: [{ seq: 5, data: "xxxxxxxEND", cut: true }], missed: true });
  });

  it("stays exact over many small chunks (echo comes a character at a time)", () => {
    const b = new OutputBuffer(100);
    for (let i = 1; i <= 5000; i++) b.push(String(i % 10));
    const all = b.since(0);
    expect(all.missed).toBe(true);
    expect(all.chunks.map((c) => c.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 4901 + i));
    expect(b.since(4995).chunks.map((c) => c.seq)).toEqual([4996, 4997, 4998, 4999, 5000]);
    expect(b.since(4900).missed).toBe(false);
    expect(b.since(4899).missed).toBe(true);
  });
});
