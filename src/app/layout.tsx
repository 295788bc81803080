import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { connection } from "next/server";
import "~/styles/globals.css";

export const metadata: Metadata = {
  title: { default: "Twarga Cloud", template: "%s · Twarga Cloud" },
  description: "A self-hosted mini cloud: VMs, monitoring and a security feed for a small team.",
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#f9fafb" },
    { media: "(prefers-color-scheme: dark)", color: "#030712" },
  ],
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Every page renders per request, the 404 page included: Next puts the
  // Content-Security-Policy nonce from src/proxy.ts on its scripts only then
  // (a page prerendered at build time would carry scripts the policy refuses).
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen">{children}</body>
    </html>
  );
}
