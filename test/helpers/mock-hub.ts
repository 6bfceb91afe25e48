// A mock Hugging Face Hub for the pull tests: an HTTP server on 127.0.0.1 (random port) serving
// folders as model repos in the shapes the real Hub and @huggingface/hub use:
//   GET  /api/models/<owner>/<name>/revision/<rev>        model info: sha (the commit), siblings
//                                                          (rfilename, size, blobId, lfs {sha256, size})
//   GET  /api/models/<owner>/<name>/tree/<rev>[/<dir>]    listFiles(): [{ type, oid, size, path, lfs }]
//   POST /api/models/<owner>/<name>/paths-info/<rev>      pathsInfo()
//   HEAD/GET /<owner>/<name>/resolve/<rev>/<file>         small files: 200 with the body; LFS files:
//                                                          302 to /cdn/..., X-Linked-Etag / X-Linked-Size
//   GET  /cdn/<owner>/<name>/<sha256>                      the LFS content, with Range (206)
// Every answer carries ETag and X-Repo-Commit; a gated repo answers 401 without `Authorization:
// Bearer <token>` (403 with a wrong one). Faults are injected per request (connection reset after
// N body bytes, stalled socket, 503/429 with Retry-After, a flipped byte) and body bytes are counted.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

export interface MockRepoOptions {
  /** Serve the repo only to requests with this bearer token (401 without one, 403 with another). */
  gated?: boolean;
  /** The commit id served for 'main' (default: a sha1 of the repo id and its files). */
  commit?: string;
  /** Hashes already known (bench: multi-GB files are hashed once and remembered), by file path. */
  hashes?: Record<string, { size: number; sha1: string; sha256: string }>;
}

/** git blob sha1 and sha256 of a file, read in 8 MiB pieces (never whole: bench files are GBs). */
export function hashFile(abs: string): { size: number; sha1: string; sha256: string } {
  const size = fs.statSync(abs).size;
  const sha1 = crypto.createHash('sha1').update(`blob ${size}\0`);
  const sha256 = crypto.createHash('sha256');
  const fd = fs.openSync(abs, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    for (let pos = 0; pos < size; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n <= 0) throw new Error(`${abs}: short read`);
      sha1.update(buf.subarray(0, n));
      sha256.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { size, sha1: sha1.digest('hex'), sha256: sha256.digest('hex') };
}

export type FaultKind = 'reset' | 'stall' | '503' | '429' | 'corrupt';

export interface Fault {
  /** Which requests: a substring of (or a RegExp on) the request path, or (file bodies) the repo file's path. */
  match: string | RegExp;
  kind: FaultKind;
  /** reset/stall/corrupt: at this byte of the file (default 0); only answers whose range holds it get the fault. */
  afterBytes?: number;
  /** 503/429: the Retry-After header in seconds. */
  retryAfter?: number;
  /** How many matching requests get the fault (default 1; Infinity for all). */
  times?: number;
  /** Only GET requests of the CDN / resolve bodies when true (default true for reset/stall/corrupt). */
  bodyOnly?: boolean;
}

interface FileEntry {
  path: string;
  abs: string;
  size: number;
  lfs: boolean;
  /** git blob sha1 (the oid / ETag of a small file). */
  oid: string;
  sha256: string;
}

interface Repo {
  id: string;
  dir: string;
  commit: string;
  gated: boolean;
  files: FileEntry[];
}

export interface RequestLog {
  method: string;
  url: string;
  status: number;
  range?: string;
  bodyBytes: number;
}

/** Files stored with LFS on the Hub: weights and tokenizers (and anything >= 10 kB). */
function isLfs(name: string, size: number): boolean {
  return /\.(bin|safetensors|model|pt|pth|h5|msgpack)$/.test(name) || size >= 10_000;
}

function listDir(dir: string, base = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listDir(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

export class MockHub {
  readonly repos = new Map<string, Repo>();
  readonly log: RequestLog[] = [];
  /** Body bytes written by the CDN and resolve endpoints (file content only), per file path. */
  readonly bytesByFile = new Map<string, number>();
  /** Bearer token accepted for gated repos. */
  token = 'hf_mock_token';
  /** Throttle file bodies to about this many bytes per second, all answers together (0 = no limit). */
  bytesPerSecond = 0;
  /** Files (by repo file path) whose bodies (except ranges from byte 0: headers) wait until `release(path)`. */
  private held = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** Token bucket of the throttle: the time (ms, performance.now) the bytes sent so far are due. */
  private due = 0;
  private faults: (Fault & { left: number })[] = [];
  private server: http.Server;
  private sockets = new Set<Socket>();
  private stalled = new Set<http.ServerResponse>();
  url = '';

  constructor() {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Serves `dir` as model repo `id` ('owner/name'). Files are read once, now. */
  addRepo(id: string, dir: string, options: MockRepoOptions = {}): Repo {
    const files: FileEntry[] = listDir(dir).map((rel) => {
      const abs = path.join(dir, rel);
      const known = options.hashes?.[rel];
      const h = known && known.size === fs.statSync(abs).size ? known : hashFile(abs);
      return { path: rel, abs, size: h.size, lfs: isLfs(rel, h.size), oid: h.sha1, sha256: h.sha256 };
    });
    const commit =
      options.commit ??
      crypto
        .createHash('sha1')
        .update(id)
        .update(files.map((f) => f.oid).join())
        .digest('hex');
    const repo = { id, dir, commit, gated: !!options.gated, files };
    this.repos.set(id, repo);
    return repo;
  }

  /** Adds a fault for the next matching request(s). */
  fault(f: Fault): void {
    this.faults.push({ ...f, left: f.times ?? 1 });
  }

  /** Holds the bodies of `file` (a repo file path) until release(file), except Range requests from
   * byte 0 (pull() fetches a weight file's header that way first): the client waits on the rest. */
  hold(file: string): void {
    if (this.held.has(file)) return;
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.held.set(file, { promise, resolve });
  }

  release(file: string): void {
    this.held.get(file)?.resolve();
    this.held.delete(file);
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Total file-content bytes served (all files). */
  get bytesServed(): number {
    let n = 0;
    for (const v of this.bytesByFile.values()) n += v;
    return n;
  }

  resetCounters(): void {
    this.bytesByFile.clear();
    this.log.length = 0;
  }

  /** Source size of a repo's files (optionally only some). */
  repoBytes(id: string, filter?: (file: string) => boolean): number {
    const r = this.repos.get(id);
    if (!r) throw new Error(`no repo ${id}`);
    return r.files.filter((f) => !filter || filter(f.path)).reduce((a, f) => a + f.size, 0);
  }

  /** How many stalled answers are being held open now. */
  get stalledCount(): number {
    return this.stalled.size;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeFault(p: string, isBody: boolean, covers?: (f: Fault) => boolean): (Fault & { left: number }) | undefined {
    for (const f of this.faults) {
      if (f.left <= 0) continue;
      if (covers && !covers(f)) continue;
      const bodyOnly = f.bodyOnly ?? (f.kind === 'reset' || f.kind === 'stall' || f.kind === 'corrupt');
      if (bodyOnly && !isBody) continue;
      const hit = typeof f.match === 'string' ? p.includes(f.match) : f.match.test(p);
      if (!hit) continue;
      f.left--;
      return f;
    }
    return undefined;
  }

  private auth(req: http.IncomingMessage, res: http.ServerResponse, repo: Repo): boolean {
    if (!repo.gated) return true;
    const h = req.headers.authorization;
    if (!h) {
      this.json(
        req,
        res,
        401,
        { error: `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.` },
        { 'X-Error-Code': 'GatedRepo' },
      );
      return false;
    }
    if (h !== `Bearer ${this.token}`) {
      this.json(req, res, 403, { error: `Access to model ${repo.id} is restricted and you are not in the authorized list.` }, { 'X-Error-Code': 'GatedRepo' });
      return false;
    }
    return true;
  }

  private json(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': data.length, ...headers });
    res.end(req.method === 'HEAD' ? undefined : data);
    this.log.push({ method: req.method ?? '', url: req.url ?? '', status, bodyBytes: 0 });
  }

  private revision(repo: Repo, rev: string): string | undefined {
    rev = decodeURIComponent(rev);
    if (rev === 'main' || rev === 'HEAD' || rev === repo.commit) return repo.commit;
    return undefined;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = decodeURIComponent(url.pathname);
    const faultBefore = this.takeFault(p, false);
    if (faultBefore?.kind === 'stall') {
      // an API call that never answers (bodyOnly: false)
      this.stalled.add(res);
      res.on('close', () => this.stalled.delete(res));
      return;
    }
    if (faultBefore && (faultBefore.kind === '503' || faultBefore.kind === '429')) {
      this.json(
        req,
        res,
        Number(faultBefore.kind),
        { error: 'try again later' },
        faultBefore.retryAfter !== undefined ? { 'Retry-After': String(faultBefore.retryAfter) } : {},
      );
      return;
    }

    let m = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree|paths-info)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(decodeURIComponent(m[1]));
      if (!repo) return this.json(req, res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      if (!this.auth(req, res, repo)) return;
      const commit = this.revision(repo, m[3]);
      if (!commit) return this.json(req, res, 404, { error: `Invalid rev id: ${decodeURIComponent(m[3])}` }, { 'X-Error-Code': 'RevisionNotFound' });
      const treeEntry = (f: FileEntry) => ({
        type: 'file',
        oid: f.oid,
        size: f.size,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.size, pointerSize: 134 } } : {}),
      });
      if (m[2] === 'revision') {
        return this.json(
          req,
          res,
          200,
          {
            _id: `mock-${repo.id}`,
            id: repo.id,
            modelId: repo.id,
            sha: commit,
            private: false,
            gated: repo.gated ? 'manual' : false,
            disabled: false,
            downloads: 0,
            likes: 0,
            lastModified: '2024-01-01T00:00:00.000Z',
            siblings: repo.files.map((f) => ({
              rfilename: f.path,
              size: f.size,
              blobId: f.oid,
              ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: 134 } } : {}),
            })),
          },
          { 'X-Repo-Commit': commit },
        );
      }
      if (m[2] === 'tree') {
        const sub = m[4] ? decodeURIComponent(m[4]) : '';
        const recursive = url.searchParams.get('recursive') === 'true';
        const inDir = repo.files.filter((f) => (sub ? f.path.startsWith(`${sub}/`) : true));
        const entries = inDir.filter((f) => recursive || !f.path.slice(sub ? sub.length + 1 : 0).includes('/'));
        return this.json(req, res, 200, entries.map(treeEntry), { 'X-Repo-Commit': commit });
      }
      // paths-info
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let body: { paths?: string[] } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return this.json(req, res, 400, { error: 'bad JSON' });
      }
      const want = new Set(body.paths ?? []);
      return this.json(req, res, 200, repo.files.filter((f) => want.has(f.path)).map(treeEntry), { 'X-Repo-Commit': commit });
    }

    m = /^\/cdn\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(p);
    if (m) {
      const repo = this.repos.get(m[1]);
      const file = repo?.files.find((f) => f.sha256 === m![2] && f.lfs);
      if (!repo || !file) return this.json(req, res, 404, { error: 'not found' });
      return this.sendFile(req, res, p, file, { ETag: `"${file.sha256}"` });
    }

    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(decodeURIComponent(m[1]));
      if (!repo) return this.json(req, res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      if (!this.auth(req, res, repo)) return;
      const commit = this.revision(repo, m[2]);
      if (!commit) return this.json(req, res, 404, { error: 'Invalid rev id' }, { 'X-Error-Code': 'RevisionNotFound' });
      const file = repo.files.find((f) => f.path === decodeURIComponent(m![3]));
      if (!file) return this.json(req, res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': commit });
      if (file.lfs) {
        const location = `/cdn/${repo.id}/${file.sha256}`;
        res.writeHead(302, {
          Location: location,
          ETag: `"${file.oid}"`,
          'X-Linked-Etag': `"${file.sha256}"`,
          'X-Linked-Size': String(file.size),
          'X-Repo-Commit': commit,
          'Content-Length': 0,
        });
        res.end();
        this.log.push({ method: req.method ?? '', url: req.url ?? '', status: 302, bodyBytes: 0 });
        return;
      }
      return this.sendFile(req, res, p, file, { ETag: `"${file.oid}"`, 'X-Repo-Commit': commit });
    }
    this.json(req, res, 404, { error: 'not found' });
  }

  private async sendFile(req: http.IncomingMessage, res: http.ServerResponse, p: string, file: FileEntry, headers: Record<string, string>): Promise<void> {
    const size = file.size;
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const r = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!r || Number(r[1]) >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        this.log.push({ method: req.method ?? '', url: req.url ?? '', status: 416, range, bodyBytes: 0 });
        return;
      }
      start = Number(r[1]);
      end = r[2] ? Math.min(size, Number(r[2]) + 1) : size;
      status = 206;
    }
    // a body fault at file byte N hits the first answer whose range holds N
    const covers = (f: Fault) =>
      !(f.kind === 'reset' || f.kind === 'stall' || f.kind === 'corrupt') || ((f.afterBytes ?? 0) >= start && (f.afterBytes ?? 0) < end);
    const fault = req.method === 'GET' ? this.takeFault(`${p} ${file.path}`, true, covers) : undefined;
    const h: Record<string, string | number> = {
      ...headers,
      'Accept-Ranges': 'bytes',
      'Content-Length': end - start,
      'Content-Type': 'application/octet-stream',
    };
    if (status === 206) h['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
    res.writeHead(status, h);
    const entry: RequestLog = { method: req.method ?? '', url: req.url ?? '', status, range, bodyBytes: 0 };
    this.log.push(entry);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const held = start > 0 ? this.held.get(file.path) : undefined;
    if (held) await held.promise;
    if (res.destroyed) return;
    const corruptAt = fault?.kind === 'corrupt' ? (fault.afterBytes ?? 0) - start : -1;
    const stopAt = fault && (fault.kind === 'reset' || fault.kind === 'stall') ? (fault.afterBytes ?? 0) - start : end - start;
    const count = (n: number) => {
      entry.bodyBytes += n;
      this.bytesByFile.set(file.path, (this.bytesByFile.get(file.path) ?? 0) + n);
    };
    const chunk = 256 * 1024;
    const fh = await fs.promises.open(file.abs, 'r');
    try {
      let off = 0;
      while (off < stopAt) {
        const n = Math.min(chunk, stopAt - off);
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await fh.read(buf, 0, n, start + off);
        if (bytesRead !== n) throw new Error(`${file.abs}: short read`);
        if (corruptAt >= off && corruptAt < off + n) buf[corruptAt - off] ^= 0xff;
        if (this.bytesPerSecond > 0) {
          // token bucket over all answers: each chunk is due n / rate after the previous one
          const now = performance.now();
          this.due = Math.max(this.due, now) + (n / this.bytesPerSecond) * 1000;
          if (this.due - now > 2) await new Promise((resolve) => setTimeout(resolve, this.due - now));
        }
        if (res.destroyed) return;
        const ok = res.write(buf);
        count(n);
        off += n;
        if (!ok) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
        if (res.destroyed) return;
      }
    } finally {
      await fh.close();
    }
    if (fault?.kind === 'reset') {
      // let the bytes already written leave, then drop the connection mid-body
      await new Promise((resolve) => setTimeout(resolve, 20));
      res.socket?.resetAndDestroy?.() ?? res.destroy();
      return;
    }
    if (fault?.kind === 'stall') {
      this.stalled.add(res);
      res.on('close', () => this.stalled.delete(res));
      return; // never finishes: the client must time out
    }
    res.end();
  }
}

/** The golden tiny folders, served as the repos of the default model. */
export function goldenHub(tinyDir: string, options: { gated?: boolean } = {}): MockHub {
  const hub = new MockHub();
  hub.addRepo('zwli/GroundingGPT', path.join(tinyDir, 'groundinggpt'), { gated: options.gated });
  hub.addRepo('openai/clip-vit-large-patch14-336', path.join(tinyDir, 'clip'));
  return hub;
}
