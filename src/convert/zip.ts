/**
 * Minimal ZIP reader for PyTorch checkpoints (torch.save's zip format): end of central directory
 * (with ZIP64 for archives and entries over 4 GiB), central directory, local headers. Entries are
 * located, not extracted: tensor storages are read in place from their offsets (torch writes them
 * uncompressed). Small deflated entries can be read whole.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { ConversionError } from '../errors';
import { FilePool } from './tensor';

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

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<string, number>();

  private constructor(readonly file: string, readonly size: number, private readonly pool: FilePool) {}

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
          if (usize === 0xffffffff) { usize = Number(cd.readBigUInt64LE(q)); q += 8; }
          if (csize === 0xffffffff) { csize = Number(cd.readBigUInt64LE(q)); q += 8; }
          if (loc === 0xffffffff) { loc = Number(cd.readBigUInt64LE(q)); q += 8; }
        }
        e += 4 + len;
      }
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
    const off = await this.dataOffset(entry);
    const raw = await this.pool.read(this.file, off, entry.compressedSize);
    if (entry.method === 0) return raw;
    if (entry.method === 8) {
      try {
        return zlib.inflateRawSync(raw);
      } catch (err) {
        throw new ConversionError(`${this.file}: cannot inflate ${entry.name}`, { file: this.file, cause: err });
      }
    }
    throw this.fail(`unsupported ZIP compression method ${entry.method} for ${entry.name}`);
  }
}
