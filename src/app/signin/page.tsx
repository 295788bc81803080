import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { EvaluationMarker } from "~/components/shell/evaluation-marker";
import { getActor } from "~/server/auth/actor";
import { safeCallbackPath } from "~/server/auth/callback-url";
import { configuredProviders } from "~/server/auth/providers";
import { appUrl } from "~/server/auth/secret";
import { signInAction } from "./actions";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string }> }) {
  const callbackUrl = safeCallbackPath((await searchParams).callbackUrl, appUrl());
  if (await getActor()) redirect(callbackUrl);
  const { info } = configuredProviders();
  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col justify-center px-4">
      <EvaluationMarker />
      <h1 className="text-2xl font-semibold">Sign in to Twarga Cloud</h1>
      <p className="mt-1 text-sm text-gray-600 dark:text-gray-400">VMs, monitoring and a security feed for your team.</p>
      <div className="mt-6 space-y-3">
        {info.length === 0 && (
          <p className="rounded border border-amber-400 bg-amber-50 p-3 text-sm dark:bg-amber-950">No sign-in provider is configured. See .env.example.</p>
        )}
        {info.map((p) => (
          <form key={p.id} action={signInAction}>
            <input type="hidden" name="provider" value={p.id} />
            <input type="hidden" name="callbackUrl" value={callbackUrl} />
            <button type="submit" className="w-full rounded-md bg-blue-600 px-4 py-2.5 font-medium text-white hover:bg-blue-700">
              Sign in with {p.name}
            </button>
            {p.local && (
              <p className="mt-2 text-xs text-amber-700 dark:text-amber-400" data-testid="local-idp-notice">
                This is the built-in local identity provider: it signs you in with the email you type, without a password. Use it to try Twarga Cloud; configure
                GitHub, Google or your OIDC issuer for real use.
              </p>
            )}
          </form>
        ))}
      </div>
    </main>
  );
}
