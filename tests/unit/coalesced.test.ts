import { describe, expect, it } from "vitest";
import { Coalesced } from "~/server/coalesced";

describe("Coalesced", () => {
  it("runs once more after the run in progress, however many requests came meanwhile", async () => {
    let runs = 0;
    let release: () => void = () => {};
    const c = new Coalesced(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    });
    const first = c.request();
    expect(c.busy).toBe(true);
    const more = [c.request(), c.request(), c.request()];
    release();
    await Promise.all([first, ...more]);
    expect(runs).toBe(2);
    expect(c.busy).toBe(false);
    await c.request();
    expect(runs).toBe(3);
  });

  it("settles after the runs asked for during the one in progress", async () => {
    const order: string[] = [];
    const c = new Coalesced(async () => {
      order.push("run");
      await new Promise((r) => setTimeout(r, 5));
    });
    void c.request();
    void c.request();
    await c.settled();
    expect(order).toEqual(["run", "run"]);
    expect(c.busy).toBe(false);
  });
});
