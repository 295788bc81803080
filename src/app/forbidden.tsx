import Link from "next/link";

export default function Forbidden() {
  return (
    <main className="mx-auto flex min-h-[60vh] max-w-md flex-col justify-center px-4">
      <p className="text-sm font-medium text-gray-500">403</p>
      <h1 className="text-2xl font-semibold">You do not have access to this page</h1>
      <p className="mt-2 text-gray-600 dark:text-gray-400">This page is for admins. Ask an admin if you need access.</p>
      <Link href="/" className="mt-6 text-blue-600 underline">
        Back to the dashboard
      </Link>
    </main>
  );
}
