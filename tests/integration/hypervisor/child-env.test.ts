// What a real child process started by the app sees of its environment: the
// allowlist, never the app's secrets. The stand-ins here dump the environment
// they were given, as vagrant or virsh would have it.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { runVirsh } from "~/server/hypervisor/virsh";
import { runVagrant } from "~/server/vms/vagrant-cli";

const SECRETS: Record<string, string> = {
  AUTH_SECRET: "secret-auth-0123456789abcdefghijklmnopqrstuvwxyz",
  DATABASE_URL: "postgresql://app:db-password@127.0.0.1/twarga",
  AUTH_GITHUB_SECRET: "gh-oauth-secret",
  AUTH_GOOGLE_SECRET: "google-oauth-secret",
  AUTH_OIDC_SECRET: "oidc-client-secret",
  WEBHOOK_SECRET: "whsec_webhook-secret",
};

let dir: string;
let dump: string;
let saved: Record<string, string | undefined>;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "twarga-childenv-"));
  dump = path.join(dir, "env.txt");
  const bin = path.join(dir, "dump-env");
  writeFileSync(bin, `#!/bin/sh\nenv > ${dump}\n`);
  chmodSync(bin, 0o755);
  saved = Object.fromEntries(Object.keys(SECRETS).map((k) => [k, process.env[k]]));
  Object.assign(process.env, SECRETS);
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function dumped(): Map<string, string> {
  return new Map(
    readFileSync(dump, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

function expectNoSecrets(seen: Map<string, string>) {
  for (const [key, value] of Object.entries(SECRETS)) {
    expect(seen.has(key), key).toBe(false);
    for (const v of seen.values()) expect(v.includes(value), `${key}'s value`).toBe(false);
  }
}

describe("the environment of host tools", () => {
  it("vagrant gets PATH, HOME, its own settings and the libvirt URI, and none of the app's secrets", async () => {
    const e = parseEnv({ VAGRANT_BIN: path.join(dir, "dump-env"), DATA_DIR: dir, LIBVIRT_URI: "qemu:///system" });
    const r = await runVagrant({ args: ["status"], cwd: dir, timeoutMs: 10_000 }, e);
    expect(r.exitCode).toBe(0);
    const seen = dumped();
    expectNoSecrets(seen);
    expect(seen.get("VAGRANT_HOME")).toBe(path.join(dir, "vagrant.d"));
    expect(seen.get("LIBVIRT_DEFAULT_URI")).toBe("qemu:///system");
    expect(seen.get("PATH")).toBeTruthy();
  });

  it("virsh gets the C locale and none of the app's secrets", async () => {
    const e = parseEnv({ VIRSH_BIN: path.join(dir, "dump-env") });
    await runVirsh(["list"], e);
    const seen = dumped();
    expectNoSecrets(seen);
    expect(seen.get("LC_ALL")).toBe("C");
  });
});
