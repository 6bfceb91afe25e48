/**
 * An inter-process lock for pull(): a lock file created with O_EXCL holding { pid, host }.
 * A second pull of the same model waits until the first one ends (its files are then found in
 * the cache). A lock left by a process that died (SIGKILL, crash) is taken over: same host and
 * its pid no longer exists. Written here because @huggingface/hub has no locking (Python's
 * huggingface_hub uses filelock on `.locks/`, which Node cannot share without a native flock).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AbortError } from '../errors';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stale(file: string): boolean {
  try {
    const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number; host?: string };
    if (info.host !== os.hostname() || typeof info.pid !== 'number') return false;
    return info.pid !== process.pid && !alive(info.pid);
  } catch (err) {
    // unreadable or half-written: stale only when old (a writer is between open and write otherwise)
    try {
      return Date.now() - fs.statSync(file).mtimeMs > 10_000;
    } catch {
      return false;
    }
  }
}

/** Acquires `file`; resolves to its release function. `onWait` is called once when another holds it. */
export async function acquireLock(
  file: string,
  options: { signal?: AbortSignal; onWait?: (holder: string) => void; pollMs?: number } = {},
): Promise<() => void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let told = false;
  for (;;) {
    if (options.signal?.aborted) throw new AbortError('Pull aborted');
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }));
      fs.closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (stale(file)) {
      // take a dead process's lock: rename it away first so two takers do not both delete a live one
      const aside = `${file}.${process.pid}.stale`;
      try {
        fs.renameSync(file, aside);
        fs.rmSync(aside, { force: true });
      } catch {
        // someone else took it first
      }
      continue;
    }
    if (!told) {
      told = true;
      let holder = 'another process';
      try {
        holder = `process ${JSON.parse(fs.readFileSync(file, 'utf8')).pid}`;
      } catch {
        // keep the generic text
      }
      options.onWait?.(holder);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}
