import type { MetadataRoute } from "next";

// The web app manifest (served at /manifest.webmanifest, linked from every page
// by Next): installing the app on a phone's home screen opens /status, the page
// made for one glance at 375 px; the rest of the app is one tap away in its
// navigation. `id` stays "/" so a later change of start_url is the same app.
// The icons are drawn by scripts/make-icons.ts into public/.
export default function manifest(): MetadataRoute.Manifest {
  return {
    id: "/",
    name: "Twarga Cloud",
    short_name: "Twarga",
    description: "The host, your VMs and open alerts at a glance.",
    start_url: "/status",
    scope: "/",
    display: "standalone",
    // The manifest has one colour for both schemes (the splash screen and the bar before the page loads);
    // once the page is up, the root layout's theme-color for light and dark takes over.
    background_color: "#f9fafb",
    theme_color: "#ffffff",
    icons: [
      { src: "/icons/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any" },
      { src: "/icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any" },
      { src: "/icons/maskable-192.png", sizes: "192x192", type: "image/png", purpose: "maskable" },
      { src: "/icons/maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
    ],
  };
}
