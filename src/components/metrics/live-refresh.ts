// How every live view (/monitor, the dashboard's "Host now", /status) refreshes:
// its query again at the sampler's pace, never faster than every 2 s, and not
// while the tab is in the background. The server-rendered data is the start.
export function liveRefresh<T extends { intervalMs: number }>(initial: T) {
  return { initialData: initial, refetchInterval: Math.max(2000, initial.intervalMs), refetchIntervalInBackground: false } as const;
}
