/**
 * The KV cache on disk (internal; `loadModel({ kvCacheDir })`): the KV state of a media prefix
 * (system text, the media rows and the tokens around them, up to the end of the last media
 * block) saved after a call evaluated it, keyed by the model's identity and the prefix's content
 * (token ids and media content hashes), so that a later process asking about the same photo
 * skips the tower and that prefix's prefill. docs/ARCHITECTURE.md, "KV cache on disk".
 *
 * A file is `GGPTKVC2`, a u32 header length, a JSON header ({ key, identity, keep, bytes,
 * crc32 }) and the snapshot bytes (the core's ggpt_seq_snapshot). It is written atomically and
 * durably; on read every field and the CRC-32 of the bytes are checked, and a file that fails
 * (truncated, foreign, another model or build) is deleted and never handed to the core. The
 * folder is bounded by size: least recently used files go first.
 *
 * CRC-32, not SHA-256 (GGPTKVC1 files, now ignored as foreign): the checksum guards against
 * damage (bit rot, a copy cut short), not against someone who can write the folder, who could
 * recompute any hash. zlib's CRC-32 reads a 350 MB image prompt of the 7B in ~60 ms where
 * SHA-256 took ~700 ms, on the path to a cached prompt's first token.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomic } from './util/atomic';

const MAGIC = Buffer.from('GGPTKVC2');

/** The default bound of the folder (about ten image prompts of the 7B at f16). */
export const DEFAULT_KV_CACHE_BYTES = 4 * 1024 ** 3;

export interface KvSnapshot {
  /** Positions of the sequence the snapshot keeps. */
  keep: number;
  data: Uint8Array;
}

interface Header {
  key: string;
  identity: string;
  keep: number;
  bytes: number;
  crc32: number;
}

export class KvDiskCache {
  readonly #pending = new Set<Promise<void>>();

  /**
   * @param dir - the folder (created when needed)
   * @param maxBytes - the folder's bound
   * @param identity - what the snapshots depend on: model files, KV type, build
   */
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    readonly identity: string,
  ) {}

  /** The key of a prefix: its token ids and media ids, in order. */
  key(prefix: ({ tokens: Int32Array } | { id: bigint })[]): string {
    const h = createHash('sha256').update(this.identity);
    for (const s of prefix) {
      if ('tokens' in s) h.update(`t${s.tokens.length}:`).update(Buffer.from(s.tokens.buffer, s.tokens.byteOffset, s.tokens.byteLength));
      else h.update(`m${s.id.toString(16)};`);
    }
    return h.digest('hex');
  }

  #file(key: string): string {
    return path.join(this.dir, `${key}.kv`);
  }

  /** The snapshot of a key, checked; undefined when there is none or it does not check out (then deleted). */
  async get(key: string): Promise<KvSnapshot | undefined> {
    const file = this.#file(key);
    let buf: Buffer;
    try {
      buf = await fs.promises.readFile(file);
    } catch {
      return undefined;
    }
    const header = this.#check(buf, key);
    if (!header) {
      await fs.promises.rm(file, { force: true });
      return undefined;
    }
    const now = new Date();
    await fs.promises.utimes(file, now, now).catch(() => undefined); // recency for the size bound
    const start = MAGIC.length + 4 + buf.readUInt32LE(MAGIC.length);
    return { keep: header.keep, data: new Uint8Array(buf.buffer, buf.byteOffset + start, header.bytes) };
  }

  #check(buf: Buffer, key: string): Header | undefined {
    if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const n = buf.readUInt32LE(MAGIC.length);
    if (n > 4096 || MAGIC.length + 4 + n > buf.length) return undefined;
    let h: Header;
    try {
      h = JSON.parse(buf.subarray(MAGIC.length + 4, MAGIC.length + 4 + n).toString('utf8')) as Header;
    } catch {
      return undefined;
    }
    const start = MAGIC.length + 4 + n;
    if (h.key !== key || h.identity !== this.identity || !Number.isSafeInteger(h.keep) || h.keep < 1) return undefined;
    if (h.bytes !== buf.length - start) return undefined;
    if (crc32(buf.subarray(start)) !== h.crc32) return undefined;
    return h;
  }

  /** Forgets a key (its snapshot would not restore). */
  async remove(key: string): Promise<void> {
    await fs.promises.rm(this.#file(key), { force: true });
  }

  /** Saves a snapshot in the background (failures are dropped: the cache is an optimisation). */
  put(key: string, snap: KvSnapshot): void {
    const p = this.#write(key, snap)
      .catch(() => undefined)
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Resolves when every write started so far has ended. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async #write(key: string, snap: KvSnapshot): Promise<void> {
    if (snap.data.byteLength > this.maxBytes) return;
    const h: Header = { key, identity: this.identity, keep: snap.keep, bytes: snap.data.byteLength, crc32: crc32(snap.data) };
    const json = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    await fs.promises.mkdir(this.dir, { recursive: true });
    // header and bytes written one after the other (no copy of the snapshot), then renamed durably
    await writeAtomic(this.#file(key), async (tmp) => {
      const fh = await fs.promises.open(tmp, 'w');
      try {
        await fh.writeFile(Buffer.concat([MAGIC, len, json]));
        await fh.writeFile(snap.data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
    await this.#trim();
  }

  /** Deletes the least recently used files until the folder fits its bound. */
  async #trim(): Promise<void> {
    const names = (await fs.promises.readdir(this.dir)).filter((n) => n.endsWith('.kv'));
    const files: { file: string; size: number; used: number }[] = [];
    for (const n of names) {
      const file = path.join(this.dir, n);
      const st = await fs.promises.stat(file).catch(() => undefined);
      if (st) files.push({ file, size: st.size, used: st.mtimeMs });
    }
    let total = files.reduce((a, f) => a + f.size, 0);
    files.sort((a, b) => a.used - b.used);
    for (const f of files) {
      if (total <= this.maxBytes) break;
      await fs.promises.rm(f.file, { force: true });
      total -= f.size;
    }
  }
}
