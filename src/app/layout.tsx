import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { connection } from "next/server";
import "~/styles/globals.css";

export const metadata: Metadata = {
  title: { default: "Twarga Cloud", template: "%s · Twarga Cloud" },
  description: "A self-hosted mini cloud: VMs, monitoring and a security feed for a small team.",
  // Drawn by scripts/make-icons.ts; the manifest (src/app/manifest.ts) names the larger ones.
  icons: {
    icon: [
      { url: "/favicon.ico", sizes: "16x16 32x32 48x48" },
      { url: "/icon.svg", type: "image/svg+xml" },
    ],
    apple: [{ url: "/icons/apple-touch-icon.png", sizes: "180x180" }],
  },
  // iOS opens a home-screen page full screen only with this (it ignores the manifest's display).
  appleWebApp: { capable: true, title: "Twarga", statusBarStyle: "default" },
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  // The phone's status bar takes the colour of the sticky header below it (bg-white, dark:bg-gray-900).
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#ffffff" },
    { media: "(prefers-color-scheme: dark)", color: "#101828" },
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
