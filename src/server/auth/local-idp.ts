// A small OpenID Connect identity provider built on `oidc-provider`, so that a
// team can sign in with no outside account. The app reaches it through the
// same generic OIDC code path as Keycloak or Authentik (see providers.ts), so
// that path is exercised on every run. Its sign-in form asks for an email and
// a name and trusts them: it is for evaluation and development, refused in
// production unless LOCAL_IDP=on.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { COMMON_SECURITY_HEADERS } from "../security-headers";

export interface LocalIdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface LocalIdpOptions {
  host: string;
  port: number;
  clients: LocalIdpClient[];
  /** Shown on the sign-in form. */
  title?: string;
  /**
   * The `email_verified` claim for an account (default: always true, as the
   * form is the only proof there is). The test issuer answers false for some
   * accounts, to play an issuer that has not verified an address.
   */
  emailVerified?: (email: string) => boolean;
}

export interface LocalIdp {
  issuer: string;
  close(): Promise<void>;
}

const EMAIL = /^[^\s@<>"']{1,64}@[^\s@<>"']{1,255}$/;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const LOCAL_IDP_NOTE =
  "This is Twarga Cloud's <strong>local identity provider</strong>. It signs you in with the email you type, without a password. " +
  "Use it to evaluate or develop; a real deployment signs in through GitHub, Google or your OIDC issuer.";

function signInForm(uid: string, title: string, error?: string, values: { email?: string; name?: string } = {}): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:Canvas;color:CanvasText}
main{width:min(100% - 2rem,24rem)}
.note{border:1px solid #d97706;background:#fef3c733;padding:.75rem;border-radius:.5rem;font-size:.9rem}
label{display:block;margin-top:1rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.6rem;margin-top:.25rem;border-radius:.4rem;border:1px solid #888;font-size:1rem}
button{margin-top:1.25rem;width:100%;padding:.7rem;border:0;border-radius:.4rem;background:#2563eb;color:#fff;font-size:1rem;font-weight:600}
.error{color:#dc2626;margin-top:.75rem}
</style></head><body><main>
<h1>${escapeHtml(title)}</h1>
<p class="note">${LOCAL_IDP_NOTE}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="email" value="${escapeHtml(values.email ?? "")}">
<label for="name">Name</label><input id="name" name="name" type="text" autocomplete="name" maxlength="100" value="${escapeHtml(values.name ?? "")}">
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<button type="submit">Continue</button>
</form></main></body></html>`;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error("form too large");
  }
  return new URLSearchParams(body);
}

export async function startLocalIdp(opts: LocalIdpOptions): Promise<LocalIdp> {
  const issuer = `http://${opts.host}:${opts.port}`;
  const title = opts.title ?? "Sign in to Twarga Cloud";
  // Accounts typed into the form; the subject is the lower-cased email, so
  // the same person gets the same identity every time.
  const accounts = new Map<string, { email: string; name: string }>();
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), use: "sig", alg: "RS256", kid: randomBytes(8).toString("hex") };

  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    })),
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    pkce: { required: () => true },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    // Put email and name in the id_token, where Auth.js reads the profile.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx: unknown, sub: string) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      const verified = opts.emailVerified?.(account.email) ?? true;
      return { accountId: sub, claims: async () => ({ sub, email: account.email, email_verified: verified, name: account.name }) };
    },
    ttl: { Session: 60 * 60, Interaction: 15 * 60, Grant: 60 * 60, AccessToken: 10 * 60, IdToken: 10 * 60, AuthorizationCode: 60 },
  });
  provider.on("server_error", (_ctx, err) => console.error("[local-idp] server error:", err));
  const oidc = provider.callback();

  async function handleInteraction(req: IncomingMessage, res: ServerResponse, uid: string) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error("interaction mismatch");
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": formPolicy });
      res.end(signInForm(uid, title));
      return;
    }
    const form = await readForm(req);
    const email = (form.get("email") ?? "").trim();
    const name = (form.get("name") ?? "").trim().slice(0, 100);
    if (!EMAIL.test(email)) {
      res.writeHead(400, { "content-type": "text/html; charset=utf-8", "content-security-policy": formPolicy });
      res.end(signInForm(uid, title, "Enter a valid email address.", { email, name }));
      return;
    }
    const sub = email.toLowerCase();
    accounts.set(sub, { email: sub, name: name || sub.split("@")[0]! });
    const clientId = details.params.client_id!;
    const grant = new provider.Grant({ accountId: sub, clientId });
    grant.addOIDCScope(details.params.scope ?? "openid email profile");
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  // The sign-in form's policy: its own inline <style> and nothing else runs or loads. Its POST is answered with
  // redirects to the provider's /auth and then to the app's callback, and browsers check form-action on each hop.
  const formTargets = [...new Set(opts.clients.flatMap((c) => c.redirectUris.map((u) => new URL(u).origin)))];
  const formPolicy = [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `form-action 'self' ${formTargets.join(" ")}`.trim(),
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  const server = http.createServer((req, res) => {
    // Every response of the provider too (discovery, keys, tokens, its own pages): never framed or sniffed. The
    // policy goes on the form this file writes only: oidc-provider's pages (e.g. the one that resumes a sign-in
    // after a refusal) carry inline scripts of their own.
    for (const [name, value] of Object.entries(COMMON_SECURITY_HEADERS)) res.setHeader(name, value);
    const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec((req.url ?? "").split("?")[0]!);
    if (!match) return oidc(req, res);
    handleInteraction(req, res, match[1]!).catch((err) => {
      console.error("[local-idp] interaction failed:", err);
      if (!res.headersSent) res.writeHead(400, { "content-type": "text/plain" });
      res.end("This sign-in link has expired or is invalid. Go back to the app and start again.");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    issuer: port === opts.port ? issuer : `http://${opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
