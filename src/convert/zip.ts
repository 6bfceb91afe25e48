/**
 * Minimal ZIP reader for PyTorch checkpoints (torch.save's zip format): end of central directory
 * (with ZIP64 for archives and entries over 4 GiB), central directory, local headers. Entries are
 * located, not extracted: tensor storages are read in place from their offsets (torch writes them
 * uncompressed). Small deflated entries can be read whole.
 *
 * Any file gives entries or a ConversionError naming it (never another exception): every offset,
 * length and extra field is checked against the bytes that hold it, and what is read whole (the
 * central directory, an inflated entry) has a size limit (test/fuzz-zip.test.ts).
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { ConversionError } from '../errors';
import type { FilePool } from './tensor';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;
const SIG_CEN = 0x02014b50;
const SIG_LOC = 0x04034b50;

/** Largest central directory read (a 7B torch checkpoint's has a few hundred entries, ~40 KB). */
const MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024;
/** Largest entry read whole (data.pkl of a 7B checkpoint: ~1 MB). */
const MAX_ENTRY_READ = 256 * 1024 * 1024;

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<string, number>();

  private constructor(
    readonly file: string,
    readonly size: number,
    private readonly pool: FilePool,
  ) {}

  private fail(msg: string): ConversionError {
    return new ConversionError(`${this.file}: ${msg}`, { file: this.file });
  }

  static async open(file: string, pool: FilePool): Promise<ZipArchive> {
    let size: number;
    try {
      size = (await fs.promises.stat(file)).size;
    } catch (err) {
      throw new ConversionError(`${file}: cannot open (${(err as Error).message})`, { file, cause: err });
    }
    const zip = new ZipArchive(file, size, pool);
    await zip.readDirectory();
    return zip;
  }

  private async readDirectory(): Promise<void> {
    const tailLen = Math.min(this.size, 22 + 0xffff + 20);
    if (tailLen < 22) throw this.fail('truncated or not a ZIP archive (too small)');
    const tailPos = this.size - tailLen;
    const tail = await this.pool.read(this.file, tailPos, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) <= tail.length) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw this.fail('truncated or not a ZIP archive (no end of central directory record)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === SIG_EOCD64_LOC) {
      const rec64 = Number(tail.readBigUInt64LE(eocd - 20 + 8));
      if (rec64 + 56 > this.size) throw this.fail('truncated ZIP64 end of central directory');
      const r = await this.pool.read(this.file, rec64, 56);
      if (r.readUInt32LE(0) !== SIG_EOCD64) throw this.fail('corrupt ZIP64 end of central directory');
      count = Number(r.readBigUInt64LE(32));
      cdSize = Number(r.readBigUInt64LE(40));
      cdOffset = Number(r.readBigUInt64LE(48));
    }
    if (cdOffset + cdSize > this.size) throw this.fail('truncated ZIP archive (central directory beyond end of file)');
    if (cdSize > MAX_CENTRAL_DIRECTORY) throw this.fail(`corrupt ZIP archive (central directory of ${cdSize} bytes)`);
    const cd = await this.pool.read(this.file, cdOffset, cdSize);
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CEN) throw this.fail('corrupt ZIP central directory');
      const method = cd.readUInt16LE(p + 10);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let loc = cd.readUInt32LE(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw this.fail('corrupt ZIP central directory');
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // ZIP64 extended information: the 8-byte values that overflowed, in this order
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          const fieldEnd = Math.min(q + len, extraEnd);
          const next = () => {
            if (q + 8 > fieldEnd) throw this.fail(`corrupt ZIP64 extra field for ${name}`);
            const v = Number(cd.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next();
          if (csize === 0xffffffff) csize = next();
          if (loc === 0xffffffff) loc = next();
        }
        e += 4 + len;
      }
      if (method === 0 && csize !== usize) throw this.fail(`corrupt ZIP central directory (stored entry ${name} has sizes ${csize} and ${usize})`);
      this.entries.set(name, { name, method, compressedSize: csize, size: usize, localHeaderOffset: loc });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** Absolute file offset of an entry's data (reads its local header once). */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const cached = this.dataOffsets.get(entry.name);
    if (cached !== undefined) return cached;
    if (entry.localHeaderOffset + 30 > this.size) throw this.fail(`truncated ZIP archive (entry ${entry.name})`);
    const h = await this.pool.read(this.file, entry.localHeaderOffset, 30);
    if (h.readUInt32LE(0) !== SIG_LOC) throw this.fail(`corrupt ZIP local header for ${entry.name}`);
    const off = entry.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
    if (off + entry.compressedSize > this.size) {
      throw this.fail(`truncated ZIP archive (entry ${entry.name} ends at byte ${off + entry.compressedSize}, file has ${this.size})`);
    }
    this.dataOffsets.set(entry.name, off);
    return off;
  }

  /** Reads a whole (small) entry, inflating it if needed. */
  async readEntry(entry: ZipEntry): Promise<Buffer> {
    if (entry.method !== 0 && entry.method !== 8) throw this.fail(`unsupported ZIP compression method ${entry.method} for ${entry.name}`);
    if (entry.size > MAX_ENTRY_READ || entry.compressedSize > MAX_ENTRY_READ) {
      throw this.fail(`ZIP entry ${entry.name} is too large to read whole (${Math.max(entry.size, entry.compressedSize)} bytes)`);
    }
    if (entry.method === 0 && entry.size !== entry.compressedSize) {
      throw this.fail(`corrupt ZIP archive (stored entry ${entry.name} has sizes ${entry.compressedSize} and ${entry.size})`);
    }
    const off = await this.dataOffset(entry);
    const raw = await this.pool.read(this.file, off, entry.compressedSize);
    if (entry.method === 0) return raw;
    let out: Buffer;
    try {
      // at most the declared size: a small entry cannot inflate into gigabytes
      out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
    } catch (err) {
      throw new ConversionError(`${this.file}: cannot inflate ${entry.name}`, { file: this.file, cause: err });
    }
    if (out.length !== entry.size) throw this.fail(`corrupt ZIP archive (${entry.name} inflates to ${out.length} bytes, ${entry.size} declared)`);
    return out;
  }
}
