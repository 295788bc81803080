import type { Metadata } from "next";
import Link from "next/link";
import { EvaluationMarker } from "~/components/shell/evaluation-marker";

export const metadata: Metadata = { title: "Sign-in failed" };

const MESSAGES: Record<string, string> = {
  Configuration:
    "Sign-in is not configured correctly on the server, or the identity provider could not be reached. An admin can find details in the server log.",
  AccessDenied: "You cannot sign in to this Twarga Cloud.",
  Verification: "This sign-in link is no longer valid.",
};

export default async function SignInErrorPage({ searchParams }: { searchParams: Promise<{ error?: string }> }) {
  const { error } = await searchParams;
  return (
    <main className="mx-auto flex min-h-screen max-w-md flex-col justify-center px-4">
      <EvaluationMarker />
      <h1 className="text-2xl font-semibold">Sign-in failed</h1>
      <p className="mt-3" data-testid="signin-error">
        {error && Object.hasOwn(MESSAGES, error) ? MESSAGES[error] : "Something went wrong while signing you in. Try again."}
      </p>
      <Link href="/signin" className="mt-6 text-blue-600 underline">
        Try again
      </Link>
    </main>
  );
}
