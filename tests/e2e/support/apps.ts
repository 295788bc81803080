// The app instances the browser tests run against: one production build,
// several `next start` processes with different settings. Shared by the
// Playwright config (which starts them) and the tests (which read their data).
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../../..");

// E2E_PORT_OFFSET lets two runs share a machine (each with its own NEXT_DIST_DIR build): ports and data move together.
const OFFSET = Number(process.env.E2E_PORT_OFFSET ?? 0);
const port = (base: number) => base + OFFSET;

export const E2E_ROOT = path.join(tmpdir(), OFFSET ? `twarga-e2e-${OFFSET}` : "twarga-e2e");

export interface E2EApp {
  name: string;
  port: number;
  url: string;
  dataDir: string;
  dbFile: string;
  env: Record<string, string>;
}

/** An app instance with its own port and data folder under E2E_ROOT. */
export function e2eApp(name: string, port: number, extra: Record<string, string>): E2EApp {
  const dataDir = path.join(E2E_ROOT, name);
  const dbFile = path.join(dataDir, "app.db");
  const url = `http://localhost:${port}`;
  return {
    name,
    port,
    url,
    dataDir,
    dbFile,
    env: {
      NODE_ENV: "production",
      PORT: String(port),
      AUTH_URL: url,
      AUTH_SECRET: `e2e-secret-${name}-0123456789abcdefghijklmnopqrstuvwxyz`,
      DATA_DIR: dataDir,
      DATABASE_URL: `file:${dbFile}`,
      SSHD_LOG_FOLLOW: "false",
      ...extra,
    },
  };
}

/** The embedded default: built-in identity provider, allowed domains set. */
export const localApp = e2eApp("local", port(3100), {
  // The stand-in that speaks Vagrant's machine-readable format; the real
  // hypervisor is exercised by tests/real-vms.
  VAGRANT_BIN: path.join(ROOT, "tests/support/fake-vagrant/vagrant"),
  VM_DRIVER: "qemu",
  // libvirt's built-in test driver: the real virsh answers without a daemon, so
  // the host readiness check that gates VM actions passes.
  LIBVIRT_URI: "test:///default",
  // The stand-in's VMs have no domains there: reconciling with libvirt would call them missing.
  VM_STATE_FROM_LIBVIRT: "false",
  LOCAL_IDP: "on",
  LOCAL_IDP_PORT: String(port(3101)),
  AUTH_ALLOWED_DOMAINS: "example.com,example.org",
});

export const EXTERNAL_ISSUER_PORT = port(3201);
export const EXTERNAL_CLIENT = { id: "twarga-e2e", secret: "e2e-external-client-secret" };

/** An app that knows only an external OIDC issuer (a separate process). */
export const externalApp = e2eApp("external", port(3200), {
  LOCAL_IDP: "off",
  AUTH_OIDC_ISSUER: `http://127.0.0.1:${EXTERNAL_ISSUER_PORT}`,
  AUTH_OIDC_ID: EXTERNAL_CLIENT.id,
  AUTH_OIDC_SECRET: EXTERNAL_CLIENT.secret,
  AUTH_OIDC_NAME: "Partner SSO",
  AUTH_ALLOWED_DOMAINS: "partner.test",
  BACKGROUND_SERVICES: "false",
});
