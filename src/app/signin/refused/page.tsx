import type { Metadata } from "next";
import Link from "next/link";
import { EvaluationMarker } from "~/components/shell/evaluation-marker";
import { REFUSAL_MESSAGES, type RefusalReason } from "~/server/auth/policy";

export const metadata: Metadata = { title: "Sign-in refused" };

export default async function RefusedPage({ searchParams }: { searchParams: Promise<{ reason?: string }> }) {
  const { reason } = await searchParams;
  // Own keys only: "?reason=constructor" must not reach Object.prototype.
  const message = reason && Object.hasOwn(REFUSAL_MESSAGES, reason) ? REFUSAL_MESSAGES[reason as RefusalReason] : "You cannot sign in to this Twarga Cloud.";
  return (
    <main className="mx-auto flex min-h-screen max-w-md flex-col justify-center px-4">
      <EvaluationMarker />
      <h1 className="text-2xl font-semibold">Sign-in refused</h1>
      <p className="mt-3" data-testid="refusal-message">
        {message}
      </p>
      <Link href="/signin" className="mt-6 text-blue-600 underline">
        Back to sign-in
      </Link>
    </main>
  );
}
