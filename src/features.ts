/**
 * Media features between the towers and the LLM: their identity (a content hash, also the id
 * the core uses to reuse KV-cache rows) and a bounded cache so asking several questions about
 * the same image, video or sound encodes it once.
 */
import crypto from 'node:crypto';

import type { MediaKind } from './prompt';

/** Projected features of one media item: `rows` x `width` floats, row-major. */
export interface MediaFeatures {
  kind: MediaKind;
  /** rows x width floats (LLM input embeddings). */
  data: Float32Array;
  rows: number;
  width: number;
  /** sha256 of the tower input (hex): equal inputs give equal features. */
  hash: string;
  /** Non-zero 64-bit identity derived from `hash`, for KV-cache reuse in the core. */
  id: bigint;
}

/** Hash of a tower input: the media kind, a few numbers (sizes) and the bytes. */
export function contentHash(kind: MediaKind, dims: readonly number[], parts: readonly ArrayBufferView[]): string {
  const h = crypto.createHash('sha256');
  h.update(`${kind}:${dims.join('x')}:`);
  for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
}

/** The core's 64-bit row identity for a hash (never 0: 0 means "do not reuse"). */
export function idFromHash(hash: string): bigint {
  const id = BigInt(`0x${hash.slice(0, 16)}`);
  return id === 0n ? 1n : id;
}

/** Default size of a model's feature cache: 128 MiB (13 images, or 120 videos, of GroundingGPT-7B). */
export const DEFAULT_FEATURE_CACHE_BYTES = 128 * 1024 * 1024;

/** Least-recently-used cache of features, bounded by their total size in bytes. */
export class FeatureCache {
  readonly #map = new Map<string, MediaFeatures>();
  #bytes = 0;

  /** @param maxBytes - 0 disables caching */
  constructor(readonly maxBytes: number = DEFAULT_FEATURE_CACHE_BYTES) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Items held now. */
  get size(): number {
    return this.#map.size;
  }

  get(hash: string): MediaFeatures | undefined {
    const f = this.#map.get(hash);
    if (f) {
      // refresh recency
      this.#map.delete(hash);
      this.#map.set(hash, f);
    }
    return f;
  }

  set(f: MediaFeatures): void {
    const size = f.data.byteLength;
    if (size > this.maxBytes) return;
    const old = this.#map.get(f.hash);
    if (old) {
      this.#map.delete(f.hash);
      this.#bytes -= old.data.byteLength;
    }
    this.#map.set(f.hash, f);
    this.#bytes += size;
    for (const [key, value] of this.#map) {
      if (this.#bytes <= this.maxBytes) break;
      this.#map.delete(key);
      this.#bytes -= value.data.byteLength;
    }
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}
