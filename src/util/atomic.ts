/**
 * Atomic, durable file output: write to a temporary file in the destination folder, flush it to
 * the disk, rename it over the destination, flush the folder. A failure or an abort leaves no
 * partial file behind, and after a power loss the destination is either the old file or the
 * whole new one.
 *
 * Whole buffers go through `write-file-atomic` (npm's own). Files that are produced elsewhere and
 * can be several GB (the GGUF writer's streamed output, libllama's quantiser writing by itself)
 * cannot be handed to it as one buffer, so {@link durableRename} does the same steps for a file
 * that already exists.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import writeFileAtomicPkg from 'write-file-atomic';

/** A temporary path next to `dest` (same folder, so the rename is atomic). */
export function tempPathFor(dest: string): string {
  const dir = path.dirname(dest);
  return path.join(dir, `.${path.basename(dest)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** fsync of a file or folder; folders cannot be opened for it on Windows, and some filesystems refuse it. */
async function syncPath(p: string, folder: boolean): Promise<void> {
  if (folder && process.platform === 'win32') return;
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(p, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // a folder's fsync is best effort (EINVAL/EISDIR/EPERM on some filesystems); a file's is not
    if (!folder) throw err;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EACCES') throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Moves a finished temporary file (or folder) over `dest` durably: its data flushed first (files),
 * the rename retried while Windows reports the destination busy (an antivirus or indexer holding
 * it: EPERM/EBUSY/EACCES, for up to ~5 s), then the destination folder flushed so the rename
 * itself survives a power loss.
 */
export async function durableRename(tmp: string, dest: string): Promise<void> {
  const isDir = (await fs.promises.stat(tmp)).isDirectory();
  if (!isDir) await syncPath(tmp, false);
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.promises.rename(tmp, dest);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (process.platform !== 'win32' || attempt >= 20 || (code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES')) throw err;
      await sleep(50 + attempt * 25);
    }
  }
  await syncPath(path.dirname(dest), true);
}

/**
 * Runs `write(tmp)` to produce the file at a temporary path, then moves it durably to `dest`.
 * On any error the temporary file is removed and the error rethrown.
 */
export async function writeAtomic<T>(dest: string, write: (tmpPath: string) => Promise<T>): Promise<T> {
  const tmp = tempPathFor(dest);
  try {
    const result = await write(tmp);
    await durableRename(tmp, dest);
    return result;
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Writes a whole buffer atomically and durably (write-file-atomic: temp file, fsync, rename). */
export async function writeFileAtomic(dest: string, data: Uint8Array | string): Promise<void> {
  await writeFileAtomicPkg(dest, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), { fsync: true });
}
