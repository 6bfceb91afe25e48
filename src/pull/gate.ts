/**
 * The SourceGate pull() hands to convert() (docs/PULL.md "Convert while downloading"): which
 * source files are still downloading, their partial bytes for header reads, and the moment each
 * one is complete and verified (its sha256 matched and it was renamed into the HF cache).
 */
import fs from 'node:fs';
import type { SourceGate } from '../convert/tensor';

interface Pending {
  incomplete: string;
  size: number;
  done: boolean;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Settles once the header fetch of the file is over (its bytes are in `incomplete`, or not coming). */
  head: Promise<void>;
  headDone: () => void;
}

export class DownloadGate implements SourceGate {
  private readonly files = new Map<string, Pending>();
  /** Called with each file convert() no longer needs (after it is complete). */
  onRelease?: (file: string) => void;

  /** `file` (its snapshot path) will be complete when its download finishes; `incomplete` fills meanwhile. */
  add(file: string, incomplete: string, size: number): void {
    let resolve = () => {};
    let reject: (err: unknown) => void = () => {};
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // observed by whoever waits on it
    let headDone = () => {};
    const head = new Promise<void>((res) => {
      headDone = res;
    });
    this.files.set(file, { incomplete, size, done: false, promise, resolve, reject, head, headDone });
  }

  /** The header bytes of `file` have been fetched (or will not be: then reads wait for the whole file). */
  headFetched(file: string): void {
    this.files.get(file)?.headDone();
  }

  /** `file` is verified and in place. */
  complete(file: string): void {
    const p = this.files.get(file);
    if (!p) return;
    p.done = true;
    p.headDone();
    p.resolve();
  }

  /** Every file not complete yet never will be (the download failed or was aborted). */
  failAll(err: unknown): void {
    for (const p of this.files.values()) {
      p.headDone();
      if (!p.done) p.reject(err);
    }
  }

  ready(file: string): Promise<void> {
    return this.files.get(file)?.promise ?? Promise.resolve();
  }

  isReady(file: string): boolean {
    const p = this.files.get(file);
    return !p || p.done;
  }

  async peek(file: string, position: number, length: number): Promise<Buffer | undefined> {
    const p = this.files.get(file);
    if (!p || p.done) return undefined;
    await Promise.race([p.head, p.promise]).catch(() => undefined);
    if (p.done) return undefined;
    try {
      const fh = await fs.promises.open(p.incomplete, 'r');
      try {
        if ((await fh.stat()).size < position + length) return undefined;
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await fh.read(buf, 0, length, position);
        return bytesRead === length ? buf : undefined;
      } finally {
        await fh.close();
      }
    } catch {
      return undefined; // renamed meanwhile (complete): the caller reads the verified file
    }
  }

  size(file: string): number | undefined {
    const p = this.files.get(file);
    return p && !p.done ? p.size : undefined;
  }

  release(file: string): void {
    this.onRelease?.(file);
  }
}
