/**
 * Media features between the towers and the LLM: their identity (a content hash, also the id
 * the core uses to reuse KV-cache rows) and a bounded cache so asking several questions about
 * the same image, video or sound encodes it once. The rows stay in native memory (a
 * NativeFeatures handle, native/addon/features.h); the cache releases them when it lets them go.
 */
import crypto from 'node:crypto';

import type { NativeAudioInfo, NativeFeatures } from './native';
import type { MediaKind } from './prompt';

/** Projected features of one media item: `rows` x `width` floats, row-major, in native memory. */
export interface MediaFeatures {
  kind: MediaKind;
  /** rows x width floats (LLM input embeddings). */
  features: NativeFeatures;
  rows: number;
  width: number;
  /** sha256 of the tower input (hex): equal inputs give equal features. */
  hash: string;
  /** Non-zero 64-bit identity derived from `hash`, for KV-cache reuse in the core. */
  id: bigint;
  /** A sound's preprocessing (clip windows, padding): results report it on a cache hit too. */
  audio?: NativeAudioInfo;
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

const sizeOf = (f: MediaFeatures) => f.rows * f.width * 4;

/**
 * Least-recently-used cache of features, bounded by their total size in bytes. It owns what it
 * holds: features it evicts, replaces or clears are released (an operation using them keeps them
 * until it ends).
 */
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

  /**
   * Takes `f` over; false when it does not fit or the cache already holds features of the same
   * content (two calls encoded it at once: the first kept wins, so a handle another call may still
   * read is never released here). On false the caller still owns `f`.
   */
  set(f: MediaFeatures): boolean {
    const size = sizeOf(f);
    if (size > this.maxBytes) return false;
    const old = this.#map.get(f.hash);
    if (old) {
      if (old.features !== f.features) return false;
      this.#map.delete(f.hash);
      this.#bytes -= sizeOf(old);
    }
    this.#map.set(f.hash, f);
    this.#bytes += size;
    for (const [key, value] of this.#map) {
      if (this.#bytes <= this.maxBytes) break;
      this.#map.delete(key);
      this.#bytes -= sizeOf(value);
      value.features.release();
    }
    return true;
  }

  /** Releases everything. */
  clear(): void {
    for (const value of this.#map.values()) value.features.release();
    this.#map.clear();
    this.#bytes = 0;
  }
}
