// The real-hypervisor tests: run only by tests/real-vms/run.sh, never by the
// ordinary `vitest run` (they need root, libvirt and minutes per VM).
import path from "node:path";
import { defineConfig } from "vitest/config";
import base from "../../vitest.config";

export default defineConfig({
  root: path.resolve(import.meta.dirname, "../.."),
  resolve: base.resolve,
  test: {
    ...base.test,
    include: ["tests/real-vms/**/*.test.ts"],
    testTimeout: 15 * 60_000,
    hookTimeout: 10 * 60_000,
    fileParallelism: false,
    // Vagrant and the guests' boot log are the useful output.
    silent: false,
  },
});
