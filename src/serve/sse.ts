/**
 * Server-sent events of a streamed chat completion (docs/SERVE.md "Streaming"). The status line
 * is held back until the first token (or until a keep-alive is due), so a request that fails
 * before it (bad media, a prompt longer than the context) still gets its HTTP error status;
 * after it, a failure is an `error` event. A comment line keeps idle connections (a long image
 * prefill on a CPU) open through proxies.
 */
import type { ServerResponse } from 'node:http';

/** Chunks as `data: <json>` events on one response. */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #timer: NodeJS.Timeout | undefined;
  #opened = false;
  #wrote = false;

  constructor(res: ServerResponse, keepAliveMs: number) {
    this.#res = res;
    if (keepAliveMs > 0) {
      this.#timer = setInterval(() => {
        if (!this.#wrote) this.#write(': keep-alive\n\n');
        this.#wrote = false;
      }, keepAliveMs);
      this.#timer.unref();
    }
  }

  /** Whether the 200 and the event-stream headers have been sent. */
  get opened(): boolean {
    return this.#opened;
  }

  #open(): void {
    if (this.#opened) return;
    this.#opened = true;
    const res = this.#res;
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
  }

  #write(text: string): void {
    this.#open();
    this.#wrote = true;
    // a client that went away: its call is being aborted (the response's 'close'); nothing to write to
    if (!this.#res.destroyed && !this.#res.writableEnded) this.#res.write(text);
  }

  /**
   * One event. Written without waiting for 'drain' (the model does not wait for a slow reader):
   * what a reader leaves unread is bounded by one event per generated token, at most the
   * sequence's context size.
   */
  send(data: unknown): void {
    this.#write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Stops the keep-alive timer (before an error is answered as a plain HTTP response). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** Ends the stream, with `data: [DONE]` after a success. */
  end(done: boolean): void {
    this.stop();
    if (done) this.#write('data: [DONE]\n\n');
    this.#open();
    if (!this.#res.writableEnded) this.#res.end();
  }
}

/**
 * Streams exactly the trimmed answer the non-streamed response holds (the library's `text` is
 * the generated text with surrounding whitespace trimmed): leading whitespace is dropped and
 * trailing whitespace is held back until more text follows it.
 */
export class TrimmedPieces {
  #started = false;
  #held = '';

  /** The text to send for this piece ('' when nothing yet). */
  push(piece: string): string {
    let s = this.#held + piece;
    if (!this.#started) {
      s = s.trimStart();
      if (s === '') return '';
      this.#started = true;
    }
    const m = /\s+$/.exec(s);
    this.#held = m ? m[0] : '';
    return m ? s.slice(0, m.index) : s;
  }
}
