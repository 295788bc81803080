// email_verified, end to end from a real issuer: the test issuer (the app's
// oidc-provider-based one, as tests/support/oidc-issuer.ts runs it) signs in
// an account through its real authorization-code flow with PKCE, and the
// id_token's claims go through the app's sign-in policy. An email the issuer
// has not verified passes neither the allowlist nor AUTH_ADMIN_EMAILS.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalIdp, type LocalIdp } from "~/server/auth/local-idp";
import { decideSignIn, emailVerifiedBy } from "~/server/auth/policy";
import { parseEnv } from "~/server/env";
import { issuerVerifies, UNVERIFIED_PREFIX } from "../../support/oidc-issuer";

const CLIENT = { clientId: "it-client", clientSecret: "it-secret", redirectUris: ["http://localhost:9/api/auth/callback/oidc"] };
let idp: LocalIdp;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Signs `email` in at the issuer as a browser would, and returns the id_token's claims. */
async function signInAtIssuer(email: string): Promise<Record<string, unknown>> {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const [name, ...value] = pair!.split("=");
      jar.set(name!, value.join("="));
    }
  };
  const go = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    remember(res);
    return res;
  };
  const verifier = randomBytes(32).toString("base64url");
  const auth = new URL(`${idp.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: CLIENT.clientId,
    response_type: "code",
    scope: "openid email profile",
    redirect_uri: CLIENT.redirectUris[0]!,
    state: "s",
    nonce: "n",
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }))
    auth.searchParams.set(k, v);
  const toForm = await go(auth.href);
  const interaction = new URL(toForm.headers.get("location")!, idp.issuer).href;
  const posted = await go(interaction, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ email, name: "Test" }).toString(),
  });
  let next = new URL(posted.headers.get("location")!, idp.issuer).href;
  while (!next.startsWith(CLIENT.redirectUris[0]!)) next = new URL((await go(next)).headers.get("location")!, idp.issuer).href;
  const code = new URL(next).searchParams.get("code")!;
  const token = await fetch(`${idp.issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: CLIENT.redirectUris[0]!, code_verifier: verifier }).toString(),
  });
  const { id_token } = (await token.json()) as { id_token: string };
  return JSON.parse(Buffer.from(id_token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

beforeAll(async () => {
  idp = await startLocalIdp({ host: "127.0.0.1", port: await freePort(), clients: [CLIENT], emailVerified: issuerVerifies });
});
afterAll(() => idp.close());

const settings = (extra: Record<string, string> = {}) =>
  parseEnv({
    AUTH_OIDC_ISSUER: "https://id.example.com",
    AUTH_OIDC_ID: "a",
    AUTH_OIDC_SECRET: "b",
    AUTH_ALLOWED_DOMAINS: "partner.test",
    AUTH_ADMIN_EMAILS: `${UNVERIFIED_PREFIX}boss@partner.test`,
    ...extra,
  });

describe("an issuer's email_verified", () => {
  it("lets a verified email through the allowlist", async () => {
    const claims = await signInAtIssuer("pat@partner.test");
    expect(claims).toMatchObject({ email: "pat@partner.test", email_verified: true });
    expect(decideSignIn(String(claims.email), null, settings(), emailVerifiedBy("oidc", claims))).toEqual({ allowed: true });
  });

  it("refuses an unverified email even when it is on the allowed domain and in AUTH_ADMIN_EMAILS", async () => {
    const email = `${UNVERIFIED_PREFIX}boss@partner.test`;
    const claims = await signInAtIssuer(email);
    expect(claims).toMatchObject({ email, email_verified: false });
    for (const provider of ["oidc", "google"])
      expect(decideSignIn(email, null, settings(), emailVerifiedBy(provider, claims))).toMatchObject({
        allowed: false,
        reason: "unverified-email",
        message: expect.stringContaining("not verified"),
      });
  });

  it("treats a missing claim as unverified, and lets AUTH_TRUST_UNVERIFIED_EMAIL relax it", async () => {
    const { email_verified: _dropped, ...claims } = await signInAtIssuer(`${UNVERIFIED_PREFIX}sam@partner.test`);
    expect(emailVerifiedBy("oidc", claims)).toBe(false);
    expect(emailVerifiedBy("oidc", { ...claims, email_verified: "true" })).toBe(true);
    expect(decideSignIn(String(claims.email), null, settings({ AUTH_TRUST_UNVERIFIED_EMAIL: "true" }), emailVerifiedBy("oidc", claims))).toEqual({
      allowed: true,
    });
    // The relaxed setting does not open the allowlist.
    expect(decideSignIn("sam@elsewhere.test", null, settings({ AUTH_TRUST_UNVERIFIED_EMAIL: "true" }), false)).toMatchObject({ reason: "not-allowed" });
  });
});
