/**
 * Atomic file output: write to a temporary file in the destination folder, then rename over the
 * destination. A failure or an abort leaves no partial file behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

/** A temporary path next to `dest` (same folder, so the rename is atomic). */
export function tempPathFor(dest: string): string {
  const dir = path.dirname(dest);
  return path.join(dir, `.${path.basename(dest)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Runs `write(tmp)` to produce the file at a temporary path, then renames it to `dest`.
 * On any error the temporary file is removed and the error rethrown.
 */
export async function writeAtomic<T>(dest: string, write: (tmpPath: string) => Promise<T>): Promise<T> {
  const tmp = tempPathFor(dest);
  try {
    const result = await write(tmp);
    await fs.promises.rename(tmp, dest);
    return result;
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Writes a whole buffer atomically. */
export async function writeFileAtomic(dest: string, data: Uint8Array | string): Promise<void> {
  await writeAtomic(dest, (tmp) => fs.promises.writeFile(tmp, data));
}
