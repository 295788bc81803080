import { describe, expect, it } from "vitest";
import { VmState } from "~/generated/prisma/sqlite/enums";
import { allowedOperations, BUSY_STATES, OPERATIONS, refusalReason, stateFromVagrant } from "~/server/vms/transitions";

const ALL = Object.values(VmState);

describe("transition table", () => {
  it("allows no operation while another runs or after destroy", () => {
    for (const s of [...BUSY_STATES, "DESTROYED" as const]) expect(allowedOperations(s)).toEqual([]);
  });
  it("lists what a user may do in each settled state", () => {
    expect(allowedOperations("RUNNING")).toEqual(["stop", "restart", "destroy"]);
    expect(allowedOperations("STOPPED")).toEqual(["start", "destroy"]);
    expect(allowedOperations("ERROR")).toEqual(["start", "destroy"]);
  });
  it("gives a CONFLICT reason naming the busy state", () => {
    expect(refusalReason("stop", "STARTING", "web")).toBe("web is busy (starting); wait for that operation to finish before you stop it.");
    expect(refusalReason("start", "RUNNING", "web")).toBe("Cannot start web while it is running.");
    expect(refusalReason("destroy", "DESTROYED", "web")).toBe("web has been destroyed.");
    expect(refusalReason("stop", "RUNNING", "web")).toBeNull();
  });
  it("holds a busy state during every operation and never starts from one", () => {
    for (const rule of Object.values(OPERATIONS)) {
      expect(BUSY_STATES).toContain(rule.during);
      for (const s of rule.from) expect(BUSY_STATES).not.toContain(s);
    }
    expect(ALL.length).toBe(10);
  });
});

describe("reconciliation mapping", () => {
  it("maps vagrant-libvirt states", () => {
    expect(stateFromVagrant("running", { operation: "start" }).state).toBe("RUNNING");
    expect(stateFromVagrant("shutoff", { operation: "stop" }).state).toBe("STOPPED");
    expect(stateFromVagrant("not_created", { operation: "destroy" }).state).toBe("DESTROYED");
    expect(stateFromVagrant("not_created", { operation: "create" })).toMatchObject({ state: "ERROR" });
    expect(stateFromVagrant("inaccessible", { operation: null })).toEqual({
      state: "ERROR",
      error: expect.stringMatching(/^The VM runs but Vagrant cannot reach it/),
    });
    expect(stateFromVagrant("frobnicated", { operation: null })).toEqual({ state: "ERROR", error: "Vagrant reports an unexpected state: frobnicated." });
  });
});
