// Sign-in providers, from settings. The local identity provider is offered
// through the same generic OIDC provider shape as any external issuer.
import type { Provider } from "next-auth/providers";
import GitHub from "next-auth/providers/github";
import Google from "next-auth/providers/google";
import { env, localIdpEnabled } from "../env";
import { appUrl, derivedSecret } from "./secret";

export const LOCAL_PROVIDER_ID = "local";
export const LOCAL_CLIENT_ID = "twarga-local";

export interface ProviderInfo {
  id: string;
  name: string;
  /** The built-in provider: the sign-in page says so plainly. */
  local: boolean;
}

export function localIdpIssuer(): string {
  const e = env();
  return `http://${e.LOCAL_IDP_HOST}:${e.LOCAL_IDP_PORT}`;
}

export function localIdpClientSecret(): string {
  return derivedSecret("local-idp-client");
}

/** Redirect URIs the local provider accepts: the app origin as configured, and its localhost/127.0.0.1 twins. */
export function localRedirectUris(): string[] {
  const base = new URL(appUrl());
  const uris = new Set<string>();
  for (const host of [base.hostname, "localhost", "127.0.0.1"]) {
    const u = new URL(base);
    u.hostname = host;
    uris.add(`${u.origin}/api/auth/callback/${LOCAL_PROVIDER_ID}`);
  }
  return [...uris];
}

function oidcProvider(id: string, name: string, issuer: string, clientId: string, clientSecret: string, extraParams: Record<string, string> = {}): Provider {
  return {
    id,
    name,
    type: "oidc",
    issuer,
    clientId,
    clientSecret,
    checks: ["pkce", "state"],
    authorization: { params: { scope: "openid email profile", ...extraParams } },
    profile(profile) {
      return {
        id: String(profile.sub),
        email: String(profile.email ?? "").toLowerCase(),
        name: (profile.name as string | undefined) ?? null,
        image: (profile.picture as string | undefined) ?? null,
      };
    },
  };
}

export function configuredProviders(): { providers: Provider[]; info: ProviderInfo[] } {
  const e = env();
  const providers: Provider[] = [];
  const info: ProviderInfo[] = [];
  if (e.AUTH_GITHUB_ID && e.AUTH_GITHUB_SECRET) {
    providers.push(GitHub({ clientId: e.AUTH_GITHUB_ID, clientSecret: e.AUTH_GITHUB_SECRET }));
    info.push({ id: "github", name: "GitHub", local: false });
  }
  if (e.AUTH_GOOGLE_ID && e.AUTH_GOOGLE_SECRET) {
    providers.push(Google({ clientId: e.AUTH_GOOGLE_ID, clientSecret: e.AUTH_GOOGLE_SECRET }));
    info.push({ id: "google", name: "Google", local: false });
  }
  if (e.AUTH_OIDC_ISSUER && e.AUTH_OIDC_ID && e.AUTH_OIDC_SECRET) {
    providers.push(oidcProvider("oidc", e.AUTH_OIDC_NAME, e.AUTH_OIDC_ISSUER, e.AUTH_OIDC_ID, e.AUTH_OIDC_SECRET));
    info.push({ id: "oidc", name: e.AUTH_OIDC_NAME, local: false });
  }
  if (localIdpEnabled(e)) {
    // prompt=login: the form every time, so people can switch between test identities.
    providers.push(oidcProvider(LOCAL_PROVIDER_ID, "Local identity provider", localIdpIssuer(), LOCAL_CLIENT_ID, localIdpClientSecret(), { prompt: "login" }));
    info.push({ id: LOCAL_PROVIDER_ID, name: "Local identity provider", local: true });
  }
  return { providers, info };
}
