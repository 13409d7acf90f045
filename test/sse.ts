/** A small server-sent-events reader over fetch, for tests: frames in order, and whether the server closed. */

export interface Frame { event: string; data: any }

export interface SseStream {
  /** The next frame matching `pred`, frames before it are kept in `seen`; fails after `timeoutMs`. */
  next(pred?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  seen: Frame[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctl.signal });
  if (res.status !== 200) throw new Error(`SSE ${url}: HTTP ${res.status} ${await res.text()}`);
  const frames: Frame[] = [];
  const seen: Frame[] = [];
  let wake: () => void = () => {};
  let done = false;
  const ended = (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done: d } = await reader.read();
        if (d) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of raw.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) { frames.push({ event, data: JSON.parse(data.join('\n')) }); wake(); }
        }
      }
    } catch { /* aborted */ }
    done = true;
    wake();
  })();
  return {
    seen,
    ended,
    close: () => ctl.abort(),
    async next(pred = () => true, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (frames.length) {
          const f = frames.shift()!;
          seen.push(f);
          if (pred(f)) return f;
        }
        if (done) throw new Error(`stream ended before the awaited frame; saw: ${seen.map((f) => f.event).join(', ')}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no awaited frame within ${timeoutMs} ms; saw: ${seen.map((f) => f.event).join(', ')}`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, left); });
      }
    },
  };
}
