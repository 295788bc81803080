import type { Metadata } from "next";
import Link from "next/link";
import { REFUSAL_MESSAGES, type RefusalReason } from "~/server/auth/policy";

export const metadata: Metadata = { title: "Sign-in refused" };

export default async function RefusedPage({ searchParams }: { searchParams: Promise<{ reason?: string }> }) {
  const { reason } = await searchParams;
  const message = REFUSAL_MESSAGES[reason as RefusalReason] ?? "You cannot sign in to this Twarga Cloud.";
  return (
    <main className="mx-auto flex min-h-screen max-w-md flex-col justify-center px-4">
      <h1 className="text-2xl font-semibold">Sign-in refused</h1>
      <p className="mt-3" data-testid="refusal-message">{message}</p>
      <Link href="/signin" className="mt-6 text-blue-600 underline">Back to sign-in</Link>
    </main>
  );
}
