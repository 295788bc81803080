"use client";
// The browser terminal on the VM page: xterm.js fed by the app's terminal
// routes (output as server-sent events, input/resize/close as JSON POSTs; see
// src/server/access/terminal-http.ts). The browser holds only a session id;
// the SSH key stays on the host. A key bar gives Esc, Tab, a sticky Ctrl and
// the arrows to phones, which have none of them.
import "@xterm/xterm/css/xterm.css";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { Terminal } from "@xterm/xterm";
import { useTRPC } from "~/trpc/react";

type Status = { kind: "connecting" | "connected" | "reconnecting" } | { kind: "closed"; reason: string };

const JSON_HEADERS = { "content-type": "application/json" };
/** Below the server's limit per input request (64 Ki characters): a long paste goes in several. */
const INPUT_PIECE = 32 * 1024;

function statusText(s: Status): string {
  return s.kind === "closed" ? `closed: ${s.reason}` : s.kind;
}

async function errorOf(res: Response): Promise<string> {
  const body = (await res.json().catch(() => null)) as { error?: string } | null;
  return body?.error ?? `the server answered ${res.status}`;
}

/** What Ctrl+<key> sends, for the sticky Ctrl of the key bar. */
function withCtrl(data: string): string {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  if (c >= 64 && c <= 95) return String.fromCharCode(c - 64); // @ A-Z [ \ ] ^ _
  if (data === " ") return "\x00";
  if (data === "?") return "\x7f";
  return data;
}

const KEY_STYLE = "border-gray-300 bg-white hover:bg-gray-100 dark:border-gray-700 dark:bg-gray-900 dark:hover:bg-gray-800";
const ARROWS = { up: "A", down: "B", right: "C", left: "D" } as const;

interface Controls {
  send(data: string): void;
  arrow(dir: keyof typeof ARROWS): void;
  focus(): void;
  copy(): void;
  paste(): void;
  close(): void;
  setCtrl(on: boolean): void;
}

function TerminalPanel({ vmId, onEnded }: { vmId: string; onEnded: () => void }) {
  const container = useRef<HTMLDivElement>(null);
  const [controls, setControls] = useState<Controls | null>(null);
  const [status, setStatus] = useState<Status>({ kind: "connecting" });
  const [ctrl, setCtrl] = useState(false);
  const [canClip, setCanClip] = useState(false);
  const ended = useRef(onEnded);
  useEffect(() => {
    ended.current = onEnded;
  }, [onEnded]);

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    let disposed = false;
    let closed = false;
    let term: Terminal | null = null;
    let source: EventSource | null = null;
    let sessionId: string | null = null;
    let observer: ResizeObserver | null = null;
    let resizeTimer: ReturnType<typeof setTimeout> | undefined;
    let ctrlArmed = false;
    // Input goes in order, one request at a time; what is typed meanwhile is
    // sent with the next one. A failed request is retried with the same number,
    // which the server applies once.
    let pending = "";
    let inFlight = false;
    let seq = 0;

    const finish = (reason: string) => {
      if (closed) return;
      closed = true;
      pending = "";
      source?.close();
      if (!disposed) {
        setStatus({ kind: "closed", reason });
        ended.current();
      }
    };

    const pump = async () => {
      if (inFlight || !pending || !sessionId || closed) return;
      inFlight = true;
      const data = pending.slice(0, INPUT_PIECE);
      pending = pending.slice(data.length);
      const body = JSON.stringify({ seq: ++seq, data });
      for (let attempt = 0; !closed && !disposed; attempt++) {
        try {
          const res = await fetch(`/api/terminal/${sessionId}/input`, { method: "POST", headers: JSON_HEADERS, body });
          if (res.ok) break;
          if (res.status < 500) {
            finish(await errorOf(res));
            break;
          }
        } catch {
          // The network dropped: try again shortly with the same number.
        }
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
      inFlight = false;
      void pump();
    };

    const send = (data: string) => {
      if (closed || !data) return;
      pending += data;
      void pump();
    };

    const sendResize = () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (!term || !sessionId || closed) return;
        void fetch(`/api/terminal/${sessionId}/resize`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({ cols: term.cols, rows: term.rows }),
        }).catch(() => {});
      }, 150);
    };

    const closeSession = (keepalive = false) => {
      if (!sessionId) return;
      void fetch(`/api/terminal/${sessionId}/close`, { method: "POST", headers: JSON_HEADERS, body: "{}", keepalive }).catch(() => {});
    };

    const follow = (id: string) => {
      // EventSource reconnects by itself after a network error and sends
      // Last-Event-ID, so the server replays exactly what was missed.
      const es = new EventSource(`/api/terminal/${id}`);
      source = es;
      es.onopen = () => !closed && setStatus({ kind: "connected" });
      es.onmessage = (e: MessageEvent<string>) => term?.write(JSON.parse(e.data) as string);
      es.addEventListener("gap", () => term?.write("\r\n\x1b[2m[some output was lost while the connection was down]\x1b[0m\r\n"));
      es.addEventListener("closed", (e) => finish((JSON.parse((e as MessageEvent<string>).data) as { reason: string }).reason));
      es.onerror = () => {
        if (closed) return;
        // CLOSED: the server refused the stream (the session is gone, or the sign-in expired).
        if (es.readyState === EventSource.CLOSED) finish("the terminal is no longer available (reload the page to open a new one)");
        else setStatus({ kind: "reconnecting" });
      };
    };

    void (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
      if (disposed) return;
      const narrow = window.innerWidth < 640;
      term = new Terminal({
        cursorBlink: true,
        fontSize: narrow ? 12 : 14,
        fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
        scrollback: 5000,
        macOptionIsMeta: true,
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(el);
      fit.fit();
      // Bring the terminal the user just opened into view (on a phone it sits
      // below the job log); xterm also only paints while it is on screen.
      el.scrollIntoView({ block: "nearest" });
      term.focus();
      const t = term;
      t.attachCustomKeyEventHandler((ev) => {
        if (ev.type !== "keydown") return true;
        const mod = ev.ctrlKey || ev.metaKey;
        // Returning false leaves the key to the browser: its copy and paste
        // events reach xterm's own handlers (selection out, bracketed paste in).
        if (mod && ev.code === "KeyC" && (ev.shiftKey || t.hasSelection())) return false;
        if (mod && ev.code === "KeyV") return false;
        return true;
      });
      t.onData((data) => {
        if (ctrlArmed) {
          ctrlArmed = false;
          setCtrl(false);
          send(withCtrl(data));
        } else send(data);
      });
      t.onResize(sendResize);
      observer = new ResizeObserver(() => fit.fit());
      observer.observe(el);
      setCanClip(typeof navigator.clipboard?.writeText === "function");
      setControls({
        send: (d) => send(d),
        // Full-screen programs (vim, less) switch the arrows to "application" sequences.
        arrow: (dir) => send(`\x1b${t.modes.applicationCursorKeysMode ? "O" : "["}${ARROWS[dir]}`),
        focus: () => t.focus(),
        copy: () => void navigator.clipboard?.writeText(t.getSelection()).catch(() => {}),
        paste: () =>
          void navigator.clipboard
            ?.readText()
            .then((text) => t.paste(text))
            .catch(() => {}),
        close: () => {
          closeSession();
          finish("closed by you");
        },
        setCtrl: (on) => (ctrlArmed = on),
      });

      let res: Response;
      try {
        res = await fetch("/api/terminal", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ vmId, cols: t.cols, rows: t.rows }) });
      } catch {
        finish("the app could not be reached");
        return;
      }
      if (!res.ok) {
        finish(await errorOf(res));
        return;
      }
      sessionId = ((await res.json()) as { id: string }).id;
      if (disposed) {
        closeSession();
        return;
      }
      follow(sessionId);
      t.focus();
    })();

    // Leaving the page ends the shell now rather than after the server's grace period.
    const onPageHide = () => closeSession(true);
    window.addEventListener("pagehide", onPageHide);
    return () => {
      disposed = true;
      window.removeEventListener("pagehide", onPageHide);
      clearTimeout(resizeTimer);
      observer?.disconnect();
      if (!closed) closeSession(true);
      closed = true;
      source?.close();
      term?.dispose();
    };
  }, [vmId]);

  const live = status.kind !== "closed";
  const key = (testId: string, label: string, action: () => void, extra = "") => (
    <button
      type="button"
      data-testid={testId}
      disabled={!live}
      // Keep the focus (and a phone's keyboard) on the terminal.
      onPointerDown={(e) => e.preventDefault()}
      onClick={() => {
        action();
        controls?.focus();
      }}
      className={`min-w-10 rounded border px-2 py-1 font-mono text-xs disabled:opacity-40 ${extra || KEY_STYLE}`}
    >
      {label}
    </button>
  );
  const arrow = (dir: keyof typeof ARROWS, label: string) => key(`terminal-key-${dir}`, label, () => controls?.arrow(dir));

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center justify-between gap-2 text-xs">
        <span
          data-testid="terminal-status"
          role="status"
          className={
            live
              ? status.kind === "connected"
                ? "text-emerald-700 dark:text-emerald-300"
                : "text-amber-700 dark:text-amber-300"
              : "text-gray-600 dark:text-gray-400"
          }
        >
          {statusText(status)}
        </span>
        <button
          type="button"
          data-testid="terminal-close"
          disabled={!live}
          onClick={() => controls?.close()}
          className="rounded border border-gray-300 px-2 py-1 hover:bg-gray-100 disabled:opacity-40 dark:border-gray-700 dark:hover:bg-gray-800"
        >
          Close terminal
        </button>
      </div>
      <div ref={container} data-testid="terminal" className="h-[60vh] min-h-60 w-full overflow-hidden rounded bg-black p-1" />
      <div className="flex flex-wrap gap-1" aria-label="Terminal keys">
        {key("terminal-key-esc", "Esc", () => controls?.send("\x1b"))}
        {key("terminal-key-tab", "Tab", () => controls?.send("\t"))}
        {key(
          "terminal-key-ctrl",
          ctrl ? "Ctrl●" : "Ctrl",
          () => {
            const on = !ctrl;
            setCtrl(on);
            controls?.setCtrl(on);
          },
          ctrl ? "border-blue-500 bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100" : "",
        )}
        {arrow("left", "←")}
        {arrow("up", "↑")}
        {arrow("down", "↓")}
        {arrow("right", "→")}
        {canClip && key("terminal-copy", "Copy", () => controls?.copy())}
        {canClip && key("terminal-paste", "Paste", () => controls?.paste())}
      </div>
    </div>
  );
}

/** The terminal section of the VM page: a button while the VM runs, the terminal once opened. */
export function VmTerminal({ vmId, initialState }: { vmId: string; initialState: string }) {
  const trpc = useTRPC();
  // The same query as the page's details (one cache entry, polled there), so the button follows the VM's state.
  const state = useQuery({ ...trpc.vms.get.queryOptions({ id: vmId }), select: (vm) => vm.state }).data ?? initialState;
  const [panel, setPanel] = useState(0);
  const [ended, setEnded] = useState(false);
  const canOpen = state === "RUNNING" && (panel === 0 || ended);

  return (
    <section className="space-y-2 rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900" aria-labelledby="vm-terminal">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="vm-terminal" className="font-medium">
          Terminal
        </h2>
        {canOpen && (
          <button
            type="button"
            data-testid="terminal-open"
            onClick={() => {
              setEnded(false);
              setPanel((n) => n + 1);
            }}
            className="rounded bg-blue-600 px-3 py-1 text-sm text-white hover:bg-blue-700"
          >
            {panel === 0 ? "Open terminal" : "Open a new terminal"}
          </button>
        )}
      </div>
      {panel === 0 && state !== "RUNNING" && <p className="text-sm text-gray-600 dark:text-gray-400">A terminal can be opened while the VM is running.</p>}
      {panel > 0 && <TerminalPanel key={panel} vmId={vmId} onEnded={() => setEnded(true)} />}
    </section>
  );
}
