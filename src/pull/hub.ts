/**
 * Talking to the Hugging Face Hub: metadata through @huggingface/hub, file downloads our own.
 *
 * @huggingface/hub (2.17) gives the API shapes: `modelInfo` (the commit a revision points to),
 * `listFiles` (the tree with LFS sha256 and sizes, paginated), `getHFHubCachePath` /
 * `getRepoFolderName` (the cache layout). Its `downloadFileToCacheDir` / `snapshotDownload` are
 * not used, after reading their code: they restart a download from byte 0 (no Range resume of
 * `.incomplete`), do not check sha256 or size, take no lock, report no progress, take no
 * AbortSignal, do not retry 429/5xx, do not write `refs/<revision>`, name the snapshot after the
 * file's last commit instead of the revision's commit, and log with console.debug. The download
 * below does those things, in the same cache layout (`blobs/<etag>`, `snapshots/<commit>/<path>`
 * as relative symlinks, `refs/<revision>`), so Python's huggingface_hub reuses our files and we
 * reuse its files.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { durableRename } from '../util/atomic';
import path from 'node:path';
import { HubApiError, getRepoFolderName, listFiles, modelInfo } from '@huggingface/hub';
import { AbortError, PullError } from '../errors';

export interface HubClient {
  endpoint: string;
  token?: string;
  signal?: AbortSignal;
  /** Retries of one request on 429/5xx/network errors (default 5). */
  retries: number;
  /** First backoff in ms, doubled each retry (Retry-After wins when given). */
  retryBaseMs: number;
  /** A body that delivers nothing for this long is dropped and resumed. */
  stallTimeoutMs: number;
  onRetry?: (info: { url: string; attempt: number; waitMs: number; why: string }) => void;
}

export interface RemoteFile {
  path: string;
  size: number;
  /** sha256 of an LFS file. */
  sha256?: string;
  /** git blob sha1 (small files). */
  oid?: string;
}

/** The cache folder of a model repo: `<cache>/models--owner--name`. */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return path.join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('Pull aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortError('Pull aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retry-After in ms (seconds or an HTTP date), capped at a minute. */
function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const s = Number(h);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(h) - Date.now();
  return Number.isFinite(ms) ? Math.min(60_000, Math.max(0, ms)) : undefined;
}

function backoff(c: HubClient, attempt: number): number {
  return Math.min(30_000, c.retryBaseMs * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}

/** What to do about an HTTP error status, as a PullError. */
export function statusError(status: number, url: string, what: string, detail?: string): PullError {
  const d = detail ? ` (${detail})` : '';
  if (status === 401 || status === 403) {
    return new PullError(
      'unauthorized',
      `${what}: the Hub answered ${status}${d}. The repo is gated or private: accept its terms on its Hub page, then set HF_TOKEN to an access token (https://huggingface.co/settings/tokens)`,
      { status, url },
    );
  }
  if (status === 404) return new PullError('not_found', `${what}: not found on the Hub (404)${d}. Check the model name and revision`, { status, url });
  return new PullError(
    'server',
    `${what}: the Hub answered ${status}${d} after retries. Try again later; what was downloaded is kept and the next pull resumes it`,
    { status, url },
  );
}

/** fetch with retries (429, 5xx, network errors) and backoff honouring Retry-After. */
export async function hubFetch(c: HubClient, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (c.token && !headers.has('authorization')) headers.set('authorization', `Bearer ${c.token}`);
  headers.set('user-agent', 'groundinggpt-pull');
  for (let attempt = 0; ; attempt++) {
    if (c.signal?.aborted) throw new AbortError('Pull aborted');
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: c.signal, redirect: 'follow' });
    } catch (err) {
      if (c.signal?.aborted) throw new AbortError('Pull aborted', { cause: err });
      if (attempt >= c.retries) {
        throw new PullError(
          'network',
          `${url}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''} after ${attempt + 1} tries. Check the connection (or HF_ENDPOINT) and pull again: downloads resume`,
          { url, cause: err },
        );
      }
      const waitMs = backoff(c, attempt);
      c.onRetry?.({ url, attempt: attempt + 1, waitMs, why: (err as Error).message });
      await sleep(waitMs, c.signal);
      continue;
    }
    if ((res.status === 429 || res.status >= 500) && attempt < c.retries) {
      const waitMs = retryAfterMs(res) ?? backoff(c, attempt);
      await res.body?.cancel().catch(() => undefined);
      c.onRetry?.({ url, attempt: attempt + 1, waitMs, why: `HTTP ${res.status}` });
      await sleep(waitMs, c.signal);
      continue;
    }
    return res;
  }
}

function hubErrorToPull(err: unknown, what: string): unknown {
  if (err instanceof HubApiError) return statusError(err.statusCode, err.url, what, err.message.split('. URL:')[0]);
  return err;
}

/**
 * The commit a revision points to and the repo's files with their sizes and hashes, from the
 * Hub's API (modelInfo at the revision, then the recursive tree at that commit).
 */
export async function remoteSnapshot(c: HubClient, repo: string, revision: string): Promise<{ commit: string; files: RemoteFile[] }> {
  const fetchFn = ((url: string | URL | Request, init?: RequestInit) => hubFetch(c, String(url), init)) as typeof fetch;
  const common = { hubUrl: c.endpoint, fetch: fetchFn, ...(c.token ? { accessToken: c.token } : {}) };
  let commit: string;
  try {
    const info = await modelInfo({ name: repo, revision, additionalFields: ['sha'], ...common });
    commit = (info as { sha?: string }).sha ?? '';
  } catch (err) {
    throw hubErrorToPull(err, `${repo}@${revision}`);
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new PullError('server', `${repo}@${revision}: the Hub's answer has no commit id`, { url: c.endpoint });
  const files: RemoteFile[] = [];
  try {
    for await (const e of listFiles({ repo: { type: 'model', name: repo }, revision: commit, recursive: true, ...common })) {
      if (e.type !== 'file') continue;
      files.push({ path: e.path, size: e.lfs?.size ?? e.size, ...(e.lfs ? { sha256: e.lfs.oid } : { oid: e.oid }) });
    }
  } catch (err) {
    throw hubErrorToPull(err, `${repo}@${commit}`);
  }
  return { commit, files };
}

/** The blob name of a file in the HF cache: the sha256 for LFS files, the git oid otherwise. */
export function etagOf(f: RemoteFile): string {
  const e = f.sha256 ?? f.oid;
  if (!e || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(e)) throw new PullError('server', `${f.path}: the Hub's file list has no valid hash for it`);
  return e;
}

function newHash(f: RemoteFile): crypto.Hash {
  if (f.sha256) return crypto.createHash('sha256');
  // a git blob id: sha1 of "blob <size>\0" + content
  return crypto.createHash('sha1').update(`blob ${f.size}\0`);
}

async function hashPrefix(hash: crypto.Hash, file: string, bytes: number): Promise<void> {
  if (bytes === 0) return;
  const stream = fs.createReadStream(file, { start: 0, end: bytes - 1 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
}

/** Links `snapshots/<commit>/<path>` to `blobs/<etag>` (relative symlink; a copy where links fail). */
export function linkSnapshot(repoDir: string, commit: string, file: string, etag: string): string {
  const pointer = path.join(repoDir, 'snapshots', commit, ...file.split('/'));
  const blob = path.join(repoDir, 'blobs', etag);
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  } catch {
    fs.copyFileSync(blob, pointer);
  }
  return pointer;
}

/**
 * Downloads one file into `blobs/<etag>` through `blobs/<etag>.incomplete`, resuming what is
 * already there with a Range request, checking size and hash; a stalled or dropped body is
 * resumed; a file whose bytes do not match is fetched again once from scratch, then PullError
 * 'corrupt'. `onBytes` gets each chunk's length (negative when bytes are thrown away).
 */
export async function downloadBlob(c: HubClient, repo: string, commit: string, f: RemoteFile, blobPath: string, onBytes: (n: number) => void): Promise<void> {
  const incomplete = `${blobPath}.incomplete`;
  const url = `${c.endpoint}/${repo}/resolve/${commit}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
  const expected = etagOf(f);
  fs.mkdirSync(path.dirname(blobPath), { recursive: true });
  let fresh = 0; // downloads from scratch after a mismatch
  let failures = 0; // attempts that brought no byte
  for (;;) {
    if (c.signal?.aborted) throw new AbortError('Pull aborted');
    let have = 0;
    try {
      have = fs.statSync(incomplete).size;
    } catch {
      // nothing yet
    }
    if (have > f.size) {
      fs.truncateSync(incomplete, 0);
      onBytes(-have);
      have = 0;
    }
    const hash = newHash(f);
    let res: Response | undefined;
    if (have < f.size || f.size === 0) {
      res = await hubFetch(c, url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
      if (res.status === 416) {
        await res.body?.cancel().catch(() => undefined);
        fs.truncateSync(incomplete, 0);
        onBytes(-have);
        continue;
      }
      if (!res.ok) {
        let detail = '';
        try {
          detail = ((await res.json()) as { error?: string }).error ?? '';
        } catch {
          // not JSON
        }
        throw statusError(res.status, url, `${repo}/${f.path}`, detail);
      }
      if (res.status === 200 && have > 0) {
        // the server ignored the Range: start again
        fs.truncateSync(incomplete, 0);
        onBytes(-have);
        have = 0;
      }
    }
    await hashPrefix(hash, incomplete, have);
    let got = 0;
    if (res?.body) {
      const fh = await fs.promises.open(incomplete, have > 0 ? 'a' : 'w');
      const reader = res.body.getReader();
      let timer: NodeJS.Timeout | undefined;
      let stalled = false;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          stalled = true;
          reader.cancel().catch(() => undefined);
        }, c.stallTimeoutMs);
      };
      let bodyError: unknown;
      try {
        arm();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          arm();
          await fh.write(value);
          hash.update(value);
          got += value.length;
          onBytes(value.length);
        }
      } catch (err) {
        bodyError = err;
      } finally {
        clearTimeout(timer);
        await fh.close();
      }
      if (c.signal?.aborted) throw new AbortError('Pull aborted');
      if (stalled || bodyError) {
        // keep the bytes that arrived; the next round asks for the rest
        failures = got > 0 ? 0 : failures + 1;
        if (failures > c.retries) {
          throw new PullError(
            'network',
            `${repo}/${f.path}: the download keeps ${stalled ? 'stalling' : 'failing'}${bodyError ? ` (${(bodyError as Error).message})` : ''}. Pull again later: it resumes from byte ${have + got}`,
            { url, cause: bodyError },
          );
        }
        c.onRetry?.({
          url,
          attempt: failures,
          waitMs: failures ? backoff(c, failures - 1) : 0,
          why: stalled ? `no data for ${c.stallTimeoutMs} ms` : (bodyError as Error).message,
        });
        if (failures) await sleep(backoff(c, failures - 1), c.signal);
        continue;
      }
    } else {
      if (!fs.existsSync(incomplete)) fs.writeFileSync(incomplete, '');
    }
    const size = fs.statSync(incomplete).size;
    if (size < f.size) {
      // the body ended early: resume (a server that keeps doing so ends in an error)
      if (got === 0 && ++failures > c.retries)
        throw new PullError('network', `${repo}/${f.path}: the Hub keeps sending short bodies (${size} of ${f.size} bytes)`, { url });
      continue;
    }
    const digest = hash.digest('hex');
    if (size === f.size && digest === expected) {
      await durableRename(incomplete, blobPath);
      return;
    }
    fs.rmSync(incomplete, { force: true });
    onBytes(-size);
    if (fresh++ >= 1) {
      throw new PullError(
        'corrupt',
        `${repo}/${f.path}: the downloaded bytes do not match the Hub's metadata (${size} bytes, ${f.sha256 ? 'sha256' : 'git sha1'} ${digest}; expected ${f.size} bytes, ${expected}) twice. Nothing was converted; pull again later`,
        { url },
      );
    }
  }
}

/**
 * Fetches the first `bytes` bytes of a file into `blobs/<etag>.incomplete` (one Range request),
 * where the download resumes later: no byte is fetched twice. convert() plans from these header
 * bytes while the rest arrives (docs/PULL.md "Convert while downloading"). Best effort: any
 * failure leaves the file to the ordinary download.
 */
export async function prefetchHead(
  c: HubClient,
  repo: string,
  commit: string,
  f: RemoteFile,
  blobPath: string,
  bytes: number,
  onBytes: (n: number) => void,
): Promise<void> {
  const incomplete = `${blobPath}.incomplete`;
  let have = 0;
  try {
    have = fs.statSync(incomplete).size;
  } catch {
    // nothing yet
  }
  const want = Math.min(bytes, f.size);
  if (have >= want || fs.existsSync(blobPath)) return;
  const url = `${c.endpoint}/${repo}/resolve/${commit}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
  fs.mkdirSync(path.dirname(blobPath), { recursive: true });
  let res: Response;
  try {
    res = await hubFetch(c, url, { headers: { range: `bytes=${have}-${want - 1}` } });
  } catch (err) {
    if (err instanceof AbortError) throw err;
    return;
  }
  if (res.status !== 206 || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    return;
  }
  const fh = await fs.promises.open(incomplete, have > 0 ? 'a' : 'w');
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const n = Math.min(value.length, want - have);
      if (n > 0) {
        await fh.write(value.subarray(0, n));
        have += n;
        onBytes(n);
      }
      if (have >= want) {
        await reader.cancel().catch(() => undefined);
        break;
      }
    }
  } catch (err) {
    if (c.signal?.aborted) throw new AbortError('Pull aborted', { cause: err });
    // the ordinary download resumes from what arrived
  } finally {
    await fh.close();
  }
}
