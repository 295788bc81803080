// Every setting the server reads, validated once. A missing or malformed
// setting stops the process with a message naming it and saying how to fix it.
// .env.example documents each one; keep the two in step.
import { z } from "zod";
import { NAMED_RANGES, parseRange, type IpRange } from "./ip-ranges";

const bool = z.enum(["true", "false", "1", "0", "yes", "no", "on", "off"]).transform((v) => ["true", "1", "yes", "on"].includes(v));
const list = z.string().transform((v) =>
  v
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean),
);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);

/** "22000-22999" becomes the inclusive range; "off" becomes null (no forwarded SSH ports). */
const portRange = z
  .string()
  .trim()
  .transform((v, ctx) => {
    if (v.toLowerCase() === "off") return null;
    const m = /^(\d{1,5})-(\d{1,5})$/.exec(v);
    const first = Number(m?.[1]);
    const last = Number(m?.[2]);
    if (!m || first < 1024 || last > 65535 || first > last) {
      ctx.addIssue({ code: "custom", message: 'must be "off" or a port range such as 22000-22999 (low-high, within 1024-65535)' });
      return z.NEVER;
    }
    return { first, last };
  });

const ipv4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
/** The private IPv4 ranges (RFC 1918) a VM network pool may come from: [base, prefix]. */
const PRIVATE_V4: Array<[number, number]> = [
  [ipv4(10, 0, 0, 0), 8],
  [ipv4(172, 16, 0, 0), 12],
  [ipv4(192, 168, 0, 0), 16],
];
/** libvirt's own default network and vagrant-libvirt's: a pool overlapping them would hand out a /24 that is already on the host. */
const TAKEN_V4 = [ipv4(192, 168, 122, 0), ipv4(192, 168, 121, 0)];
const within = (addr: number, base: number, prefix: number) => prefix === 0 || addr >>> (32 - prefix) === base >>> (32 - prefix);

/** "10.231.0.0/16": a private IPv4 block of /16 to /24, split into /24s (one per VM owner). */
const networkPool = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
    const octets = m ? m.slice(1, 5).map(Number) : [];
    const prefix = Number(m?.[5]);
    const fail = (message: string) => (ctx.addIssue({ code: "custom", message }), z.NEVER);
    if (!m || octets.some((o) => o > 255)) return fail("must be an IPv4 block in CIDR form, such as 10.231.0.0/16");
    if (prefix < 16 || prefix > 24) return fail("must be a block of /16 to /24 (it is split into /24 networks, one per VM owner)");
    const base = ipv4(octets[0]!, octets[1]!, octets[2]!, octets[3]!);
    const aligned = ((base >>> (32 - prefix)) << (32 - prefix)) >>> 0;
    if (base !== aligned) return fail(`must start at its first address: ${[24, 16, 8, 0].map((s) => (aligned >>> s) & 255).join(".")}/${prefix}`);
    if (!PRIVATE_V4.some(([b, p]) => within(base, b, p))) return fail("must be a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)");
    if (TAKEN_V4.some((t) => within(t, base, prefix)))
      return fail("overlaps 192.168.121.0/24 or 192.168.122.0/24, the networks vagrant-libvirt and libvirt create for themselves");
    return { cidr: v, base, prefix, size: 2 ** (24 - prefix) };
  });

/**
 * Which peers may speak for the client in X-Forwarded-For, as Express's
 * `trust proxy` reads it: a hop count ("1": the one proxy in front of the app),
 * or a comma list of addresses, CIDR blocks and the names loopback, linklocal
 * and uniquelocal. Empty trusts nobody: the socket's peer is the client.
 */
export type TrustedProxies = { hops: number } | { ranges: IpRange[] };
const trustedProxies = z
  .string()
  .trim()
  .transform((v, ctx): TrustedProxies => {
    if (/^\d+$/.test(v)) {
      const hops = Number(v);
      if (hops <= 100) return { hops };
    }
    const out: IpRange[] = [];
    for (const item of v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const named = NAMED_RANGES[item.toLowerCase()];
      const range = named ?? parseRange(item);
      if (!range) {
        ctx.addIssue({
          code: "custom",
          message: `"${item}" is not an IP address, a CIDR block (10.0.0.0/8) or one of loopback, linklocal, uniquelocal; or give a hop count such as 1`,
        });
        return z.NEVER;
      }
      out.push(...(Array.isArray(range) ? range : [range]));
    }
    return { ranges: out };
  });

export const envSchema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    APP_VERSION: z.string().optional(),

    // Data
    DATABASE_URL: z
      .string()
      .regex(/^(file:|postgres(ql)?:\/\/)/, "must start with file: (SQLite) or postgresql://")
      .default("file:./data/twarga.db"),
    DATA_DIR: z.string().default("./data"),

    // Sign-in
    AUTH_SECRET: z.string().min(32, "must be at least 32 characters (generate one with: openssl rand -base64 33)").optional(),
    AUTH_URL: z.url("must be the app's public URL, e.g. http://localhost:3000").optional(),
    AUTH_GITHUB_ID: z.string().optional(),
    AUTH_GITHUB_SECRET: z.string().optional(),
    AUTH_GOOGLE_ID: z.string().optional(),
    AUTH_GOOGLE_SECRET: z.string().optional(),
    AUTH_OIDC_ISSUER: z.url("must be the issuer URL, e.g. https://keycloak.example.com/realms/team").optional(),
    AUTH_OIDC_ID: z.string().optional(),
    AUTH_OIDC_SECRET: z.string().optional(),
    AUTH_OIDC_NAME: z.string().default("Single sign-on"),
    AUTH_ALLOWED_DOMAINS: list.default([]),
    AUTH_ALLOWED_EMAILS: list.default([]),
    AUTH_ADMIN_EMAILS: list.default([]),
    /** The built-in identity provider: on by default outside production when no provider is set. */
    LOCAL_IDP: z.enum(["auto", "on", "off"]).default("auto"),
    LOCAL_IDP_PORT: int(1, 65535).default(3001),
    LOCAL_IDP_HOST: z.string().default("127.0.0.1"),
    /** Sign in an OIDC/Google email its issuer did not mark verified (email_verified). */
    AUTH_TRUST_UNVERIFIED_EMAIL: bool.default(false),
    TRUSTED_PROXIES: trustedProxies.default({ ranges: [] }),

    // Background services (sampler, job runner, retention, log follower): off for a web-only replica.
    BACKGROUND_SERVICES: bool.default(true),
    // Singletons (each host's sampler and alert evaluator) are leased in the database: a holder that stops renewing is replaced within 1.25 × this.
    SERVICE_LEASE_TTL_S: int(2, 600).default(20),
    HOST_ID: z.string().trim().min(1).max(200).optional(), // this host in per-host lease names; defaults to the machine's host name
    // How often the background process checks that the host can run VMs; every process reads the result from the database, unknown after 3 × this.
    HOST_CHECK_INTERVAL_S: int(5, 3600).default(60),

    // VMs (Vagrant + libvirt)
    VAGRANT_BIN: z.string().default("vagrant"),
    VIRSH_BIN: z.string().default("virsh"),
    LIBVIRT_URI: z.string().default("qemu:///system"),
    VAGRANT_HOME: z.string().optional(), // defaults to <DATA_DIR>/vagrant.d
    VM_ROOT: z.string().optional(), // defaults to <DATA_DIR>/vms
    VM_DRIVER: z.enum(["auto", "kvm", "qemu"]).default("auto"),
    // Creates, starts and restarts at once; unset: from the host's cores and memory (hostParallelism in src/server/vms/job-queue.ts).
    VM_MAX_PARALLEL_JOBS: int(1, 32).optional(),
    // Measured on a 2-core TCG host (docs/real-vm-timings.md): one `vagrant up` 39–45 s, two at once about 60 s.
    VM_TIMEOUT_UP_S: int(10, 86400).default(600),
    // A booted guest that has sent no packet at all this long never will (a broken box): the boot is failed.
    VM_SILENT_GUEST_S: int(30, 86400).default(240),
    VM_TIMEOUT_HALT_S: int(5, 86400).default(180),
    VM_TIMEOUT_DESTROY_S: int(5, 86400).default(300),
    // A running job's lease: renewed every third of this; a job whose lease ran out has no live runner and is recovered.
    VM_JOB_LEASE_S: int(2, 3600).default(30),
    // SIGTERM/SIGINT: running VM operations get this long to finish before they are stopped and recorded interrupted.
    SHUTDOWN_GRACE_S: int(0, 86400).default(60),
    VM_CPUS_MIN: int(1, 256).default(1),
    VM_CPUS_MAX: int(1, 256).default(8),
    VM_RAM_MB_MIN: int(128, 1048576).default(512),
    VM_RAM_MB_MAX: int(128, 1048576).default(16384),
    VM_DISK_GB_MIN: int(1, 65536).default(10),
    VM_DISK_GB_MAX: int(1, 65536).default(500),
    QUOTA_MAX_VMS: int(0, 10000).default(5),
    QUOTA_MAX_CPUS: int(0, 10000).default(8),
    QUOTA_MAX_RAM_MB: int(0, 10485760).default(16384),
    QUOTA_MAX_DISK_GB: int(0, 1048576).default(200),
    QUOTA_MAX_RUNNING: int(0, 10000).default(3),
    PRICE_CPU_HOUR: num(0, 1e6).default(1),
    PRICE_RAM_GB_HOUR: num(0, 1e6).default(0.5),
    PRICE_DISK_GB_HOUR: num(0, 1e6).default(0.01),
    CREDITS_INITIAL: num(0, 1e9).default(100),
    CREDITS_LOW_WARNING: num(0, 1e9).default(10),
    // The per-minute meter sees every up VM; a VM unseen for longer than this (the app or its host was down) is not charged for the gap.
    METERING_MAX_GAP_S: int(90, 86400).default(120),

    // VM access: forwarded SSH ports on this host and one libvirt network per VM owner
    VM_SSH_PORT_RANGE: portRange.default(portRange.parse("22000-22999")),
    PUBLIC_SSH_HOST: z
      .string()
      .regex(/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:]{2,39}$/, "must be a host name or IP address, e.g. cloud.example.com")
      .optional(), // defaults to the host name in AUTH_URL, else this machine's host name
    VM_NETWORK_POOL: networkPool.default(networkPool.parse("10.231.0.0/16")),

    // Browser terminals (shells in running VMs, held by this web process)
    TERMINAL_MAX_PER_VM: int(1, 1000).default(4),
    TERMINAL_MAX_PER_USER: int(1, 1000).default(8),
    TERMINAL_IDLE_MIN: num(1, 10080).default(30),

    // Monitoring
    SAMPLER_ENABLED: bool.default(true),
    SAMPLER_INTERVAL_MS: int(250, 3_600_000).default(5000),
    VM_STATE_FROM_LIBVIRT: bool.default(true), // the sampler reconciles rows with the domains it sees (src/server/vms/observed-state.ts)
    METRICS_WATCHED_PATHS: z.string().optional(), // comma list; defaults to "/" and VM_ROOT
    // A token-free Prometheus listener (src/server/metrics/exposition.ts); loopback addresses only, since it shows every VM.
    METRICS_LISTEN: z
      .string()
      .regex(/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):\d{1,5}$/, "METRICS_LISTEN must be a loopback address with a port, e.g. 127.0.0.1:9464")
      .optional(),
    METRICS_RAW_RETENTION_H: num(1, 24 * 365).default(24),
    METRICS_MINUTE_RETENTION_D: num(1, 3650).default(30),
    METRICS_HOUR_RETENTION_D: num(1, 36500).default(365),
    RETENTION_INTERVAL_MIN: num(1, 10080).default(15),

    // Security events
    EVENTS_RETENTION_D: num(1, 36500).default(90),
    SSHD_LOG_PATH: z.string().default("/var/log/auth.log"),
    SSHD_LOG_FOLLOW: bool.default(true),
    BRUTE_FORCE_THRESHOLD: int(1, 10000).default(5),
    BRUTE_FORCE_WINDOW_MIN: num(1, 10080).default(10),
    MASS_DESTROY_THRESHOLD: int(1, 10000).default(5),
    MASS_DESTROY_WINDOW_MIN: num(1, 10080).default(10),

    // Alert webhooks: whether a URL may resolve to a private address (10/8, 172.16/12, 192.168/16, fc00::/7, loopback).
    WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  })
  .superRefine((env, ctx) => {
    const pairs = [
      ["AUTH_GITHUB_ID", "AUTH_GITHUB_SECRET"],
      ["AUTH_GOOGLE_ID", "AUTH_GOOGLE_SECRET"],
      ["AUTH_OIDC_ID", "AUTH_OIDC_SECRET"],
    ] as const;
    for (const [a, b] of pairs) {
      if (Boolean(env[a]) !== Boolean(env[b])) ctx.addIssue({ code: "custom", path: [env[a] ? b : a], message: `set both ${a} and ${b}, or neither` });
    }
    if (Boolean(env.AUTH_OIDC_ID) !== Boolean(env.AUTH_OIDC_ISSUER))
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_OIDC_ISSUER"],
        message: "a generic OIDC provider needs AUTH_OIDC_ISSUER, AUTH_OIDC_ID and AUTH_OIDC_SECRET",
      });
    const external = Boolean(env.AUTH_GITHUB_ID || env.AUTH_GOOGLE_ID || env.AUTH_OIDC_ID);
    if (external && env.AUTH_ALLOWED_DOMAINS.length === 0 && env.AUTH_ALLOWED_EMAILS.length === 0)
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_ALLOWED_DOMAINS"],
        message:
          "an external sign-in provider is configured but nobody is restricted: set AUTH_ALLOWED_DOMAINS (e.g. example.com) or AUTH_ALLOWED_EMAILS, " +
          "otherwise anyone with such an account could sign in",
      });
    if (env.LOCAL_IDP === "on" && external && env.NODE_ENV === "production")
      ctx.addIssue({
        code: "custom",
        path: ["LOCAL_IDP"],
        message:
          "is on beside an external sign-in provider (GitHub, Google or OIDC) in production: anyone who can reach the local provider could sign in as any email, " +
          "an admin's included. Set LOCAL_IDP=off (or remove the line from .env; auto turns it off when a provider is configured)",
      });
    // `next build` imports server modules with NODE_ENV=production but serves
    // nothing; the secret is checked when the server starts.
    if (env.NODE_ENV === "production" && !env.AUTH_SECRET && process.env.NEXT_PHASE !== "phase-production-build")
      ctx.addIssue({ code: "custom", path: ["AUTH_SECRET"], message: "is required in production (generate one with: openssl rand -base64 33)" });
  });

export type Env = z.infer<typeof envSchema>;

export class EnvError extends Error {}

export function parseEnv(source: Record<string, string | undefined>): Env {
  // Empty strings count as unset, as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${i.path.join(".") || "(settings)"}: ${i.message}`);
    throw new EnvError(`Invalid settings (see .env.example):\n${lines.join("\n")}`);
  }
  return result.data;
}

let cached: Env | undefined;
/** The validated settings of this process. */
export function env(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** Whether the built-in identity provider is served and offered. */
export function localIdpEnabled(e: Env = env()): boolean {
  if (e.LOCAL_IDP === "on") return true;
  if (e.LOCAL_IDP === "off") return false;
  const external = Boolean(e.AUTH_GITHUB_ID || e.AUTH_GOOGLE_ID || e.AUTH_OIDC_ID);
  return !external && e.NODE_ENV !== "production";
}
