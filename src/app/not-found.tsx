import type { Metadata } from "next";
import Link from "next/link";

export const metadata: Metadata = { title: "Not found" };

// Shown with a real 404 for an unknown address and for anything the app hides
// (another user's VM looks like a missing one).
export default function NotFound() {
  return (
    <main className="mx-auto flex min-h-[60vh] max-w-md flex-col justify-center px-4" data-testid="not-found">
      <p className="text-sm font-medium text-gray-500">404</p>
      <h1 className="text-2xl font-semibold">This page does not exist</h1>
      <p className="mt-2 text-gray-600 dark:text-gray-400">The address may be mistyped, or what it pointed to was removed or is not yours to see.</p>
      <Link href="/" className="mt-6 text-blue-600 underline">
        Back to the dashboard
      </Link>
    </main>
  );
}
