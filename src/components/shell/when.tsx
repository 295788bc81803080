"use client";
// The one date/time format of the app: the user's own locale and time zone (the
// browser's), e.g. "30 Nov 2026, 15:32:07" for en-GB. The server cannot know
// either, so the server's render (and the first client render, which must match
// it) shows the UTC time in ISO form; right after hydration it switches to the
// user's format. useSyncExternalStore tells the two renders apart.
import { useSyncExternalStore } from "react";

const subscribe = () => () => {};

/** True once running in the browser after hydration. */
function useInBrowser(): boolean {
  return useSyncExternalStore(
    subscribe,
    () => true,
    () => false,
  );
}

const FORMATS = {
  datetime: { dateStyle: "medium", timeStyle: "medium" },
  date: { dateStyle: "medium" },
  time: { timeStyle: "medium" },
} as const satisfies Record<string, Intl.DateTimeFormatOptions>;

export type WhenStyle = keyof typeof FORMATS;

/** A date in the user's locale and time zone (undefined locale = the browser's). */
export function formatWhen(value: Date | string | number, style: WhenStyle = "datetime"): string {
  return new Intl.DateTimeFormat(undefined, FORMATS[style]).format(new Date(value));
}

/** The server-side stand-in: UTC, ISO-like, unambiguous. */
export function formatUtc(value: Date | string | number, style: WhenStyle = "datetime"): string {
  const iso = new Date(value).toISOString();
  if (style === "date") return iso.slice(0, 10);
  if (style === "time") return `${iso.slice(11, 19)} UTC`;
  return `${iso.slice(0, 19).replace("T", " ")} UTC`;
}

export function When({ value, style = "datetime", className }: { value: Date | string | number; style?: WhenStyle; className?: string }) {
  const inBrowser = useInBrowser();
  const iso = new Date(value).toISOString();
  return (
    <time dateTime={iso} title={formatUtc(value)} className={className} data-testid="when">
      {inBrowser ? formatWhen(value, style) : formatUtc(value, style)}
    </time>
  );
}
