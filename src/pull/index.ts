/**
 * pull(): a named model from the Hugging Face Hub to a model directory, in one call.
 *
 * 1. the repos' files and hashes from the Hub's API (or, with HF_HUB_OFFLINE=1, the HF cache only);
 * 2. the files not already in the HF cache downloaded into it (HF_HOME / HF_HUB_CACHE layout),
 *    resumed with Range, checked against the Hub's size and sha256 (src/pull/hub.ts);
 * 3. convert() into a temporary folder next to the model directory, renamed into place when done;
 *    for the default model it runs while the weights download (docs/PULL.md "Convert while downloading").
 * A lock file per model name keeps two pulls from working on the same files at once; the second
 * waits, then finds everything done. An abort leaves `.incomplete` files that the next pull resumes.
 * (Over 500 lines: the steps of one pull share its state; the parts that stand alone are in
 * hub.ts, lock.ts and registry.ts.)
 */
import fs from 'node:fs';
import { durableRename } from '../util/atomic';
import path from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';
import { convert, type ConvertProgress, type ConvertType } from '../convert/index';
import { openModel } from '../open';
import { CONVERT_TYPES } from '../convert/common';
import { AbortError, ConversionError, InvalidInputError, ModelLoadError, PullError } from '../errors';
import { invalid, isPlainObject } from '../util/validate';
import { EARLY_HEADER_BYTES } from '../convert/tensor';
import { DownloadGate } from './gate';
import { type HubClient, type RemoteFile, downloadBlob, etagOf, linkSnapshot, prefetchHead, remoteSnapshot, repoCacheDir } from './hub';
import { acquireLock } from './lock';
import {
  DEFAULT_MODEL,
  MODELS,
  parseHfName,
  isCompleteModel,
  licenceLines,
  modelDirFor,
  modelHome,
  parseModelName,
  resolveModelName,
  type Licence,
  type RepoRef,
} from './registry';

export { DEFAULT_MODEL, MODELS, modelHome, parseHfName, resolveModelName, licenceLines };
export type { Licence, ModelSpec, RepoRef } from './registry';

export interface PullOptions {
  /** Model name, `groundinggpt-7b` (default) or `groundinggpt-7b:q8_0`; or `hf:<owner>/<repo>[:<file-prefix>]`,
   * a repo holding already converted `<prefix>llm.gguf` + `<prefix>encoders.gguf` (validated by loading them). */
  name?: string;
  /** Weight type of the conversion (default: the name's tag, else the model's default, q4_k_m). */
  type?: ConvertType;
  /** Output model directory (default: `<model home>/<name>/<type>`). */
  dir?: string;
  /** Hub URL (default: $HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Hub access token for gated/private repos (default: $HF_TOKEN). */
  token?: string;
  /** Revision of the GroundingGPT repo (string) or of each repo; default: the pinned ones. */
  revision?: string | { model?: string; clip?: string };
  /** Keep the downloaded source files in the HF cache after conversion (default true). */
  keepSource?: boolean;
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  /** Retries per request on 429/5xx/network errors (default 5). */
  retries?: number;
  /** First retry delay in ms, doubled each time; Retry-After wins (default 1000). */
  retryBaseMs?: number;
  /** Drop and resume a download that delivers nothing for this long (default 30000 ms). */
  stallTimeoutMs?: number;
}

export interface PullPlanFile {
  repo: string;
  path: string;
  size: number;
  /** Already in the HF cache: not downloaded. */
  cached: boolean;
}

export interface PullPlan {
  name: string;
  type: string;
  dir: string;
  hfCache: string;
  repos: { repo: string; revision: string; commit: string }[];
  files: PullPlanFile[];
  /** Bytes of the source files, and of those still to download (a resumed file counts whole). */
  totalBytes: number;
  downloadBytes: number;
  licences: Licence[];
}

export interface PullProgress {
  /** 'wait': another process holds the lock; 'plan': what will be fetched (before any download);
   * 'download': bytes arriving; 'retry': a request is retried; 'convert': the conversion;
   * 'done': the model directory is in place. */
  stage: 'wait' | 'plan' | 'download' | 'retry' | 'convert' | 'done';
  plan?: PullPlan;
  /** download: the file (repo/path) and its bytes so far / size. */
  file?: string;
  fileBytes?: number;
  fileTotal?: number;
  /** download: bytes of all files so far (cached ones not counted) / to download; bytes per second; seconds left. */
  bytes?: number;
  total?: number;
  rate?: number;
  eta?: number;
  /** convert: the conversion's own event. */
  convert?: ConvertProgress;
  message?: string;
}

export interface PullResult {
  name: string;
  /** The weight type (or, for hf: repos, the file prefix; 'default' without one). */
  type: string;
  dir: string;
  /** Bytes fetched over the network by this call (file content). */
  downloaded: number;
  /** True when the model directory was already complete (nothing fetched or converted). */
  alreadyPulled: boolean;
  plan?: PullPlan;
}

const DEFAULT_ENDPOINT = 'https://huggingface.co';
const MODEL_SIDE = ['config.json', 'generation_config.json', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json'];
const CLIP_SIDE = ['config.json', 'preprocessor_config.json'];

function truthy(v: string | undefined): boolean {
  return !!v && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/** The files convert() needs from a repo: side files plus one weight format (safetensors first, like convert). */
export function selectFiles(files: RemoteFile[], side: string[]): RemoteFile[] {
  const root = files.filter((f) => !f.path.includes('/'));
  const st = root.filter((f) => /^model(-\d+-of-\d+)?\.safetensors$/.test(f.path) || f.path === 'model.safetensors.index.json');
  const pt = root.filter((f) => /^pytorch_model(-\d+-of-\d+)?\.bin$/.test(f.path) || f.path === 'pytorch_model.bin.index.json');
  const weights = st.some((f) => f.path.endsWith('.safetensors')) ? st : pt;
  return [...root.filter((f) => side.includes(f.path)), ...weights];
}

function validate(value: PullOptions): void {
  if (!isPlainObject(value)) throw invalid('an options object', 'options', value);
  const options = value as PullOptions;
  for (const k of ['name', 'dir', 'endpoint', 'token'] as const) {
    if (options[k] !== undefined && (typeof options[k] !== 'string' || options[k] === '')) throw invalid('a non-empty string', `options.${k}`, options[k]);
  }
  if (options.type !== undefined && !CONVERT_TYPES.includes(options.type)) throw invalid(`one of ${CONVERT_TYPES.join(', ')}`, 'options.type', options.type);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw invalid('a function', 'options.onProgress', options.onProgress);
  for (const k of ['retries', 'retryBaseMs', 'stallTimeoutMs'] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 3_600_000)) throw invalid('a non-negative integer', `options.${k}`, v);
  }
}

/** A file of the snapshot already in the cache with the right size (a link to its blob, or a copy). */
function cachedFile(repoDir: string, commit: string, f: RemoteFile): boolean {
  try {
    return fs.statSync(path.join(repoDir, 'snapshots', commit, ...f.path.split('/'))).size === f.size;
  } catch {
    return false;
  }
}

/** Offline: what a cached snapshot lacks for convert() (config.json, weights, the shards its index names), or undefined. */
function missingOffline(snap: string, side: string[]): string | undefined {
  const has = (f: string) => fs.existsSync(path.join(snap, f)); // follows the snapshot's links
  if (side.includes('config.json') && !has('config.json')) return 'config.json';
  if (side.includes('tokenizer.model') && !has('tokenizer.model')) return 'tokenizer.model';
  for (const index of ['model.safetensors.index.json', 'pytorch_model.bin.index.json']) {
    if (!has(index)) continue;
    try {
      const map = (JSON.parse(fs.readFileSync(path.join(snap, index), 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      const lost = [...new Set(Object.values(map))].filter((f) => !has(f));
      if (lost.length === 0) return undefined;
      if (!has(index.startsWith('model') ? 'pytorch_model.bin.index.json' : 'model.safetensors.index.json')) return lost.join(', ');
    } catch {
      return `a readable ${index}`;
    }
  }
  if (has('model.safetensors') || has('pytorch_model.bin')) return undefined;
  return 'the weights (model*.safetensors or pytorch_model*.bin)';
}

type SourceKind = 'model' | 'clip' | 'gguf';

/**
 * A pre-converted repo's files into `tmp` (hard links to the HF cache blobs, copies where links
 * fail) with a manifest naming the source, then loaded once by loadModel to validate them:
 * a file our loaders refuse is never installed (ModelLoadError, wrapped in PullError 'corrupt').
 */
async function installPreconverted(snap: string, prefix: string, tmp: string, src: { repo: string; commit: string }, signal?: AbortSignal): Promise<void> {
  fs.mkdirSync(tmp, { recursive: true });
  const files: Record<string, { file: string; bytes: number }> = {};
  for (const [from, to] of [
    [`${prefix}llm.gguf`, 'llm.gguf'],
    [`${prefix}encoders.gguf`, 'encoders.gguf'],
  ]) {
    const real = fs.realpathSync(path.join(snap, from));
    try {
      fs.linkSync(real, path.join(tmp, to));
    } catch {
      fs.copyFileSync(real, path.join(tmp, to));
    }
    files[to.replace('.gguf', '')] = { file: to, bytes: fs.statSync(real).size };
  }
  try {
    const m = await openModel({ model: tmp, contextSize: 64, signal });
    await m.dispose();
  } catch (err) {
    if (err instanceof AbortError) throw err;
    throw new PullError(
      'corrupt',
      `${src.repo}@${src.commit}: ${prefix}llm.gguf / ${prefix}encoders.gguf are not a model our loaders accept (${(err as Error).message}); nothing was installed`,
      { cause: err },
    );
  }
  const manifest = { format: 'groundinggpt-model', formatVersion: 1, files, source: { hub: src.repo, commit: src.commit, prefix } };
  fs.writeFileSync(path.join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The commit of a revision from the cache's refs (offline use). */
function cachedCommit(repoDir: string, revision: string): string | undefined {
  if (/^[0-9a-f]{40}$/.test(revision)) return fs.existsSync(path.join(repoDir, 'snapshots', revision)) ? revision : undefined;
  try {
    const c = fs.readFileSync(path.join(repoDir, 'refs', revision), 'utf8').trim();
    return /^[0-9a-f]{40}$/.test(c) && fs.existsSync(path.join(repoDir, 'snapshots', c)) ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pulls a model: downloads what the HF cache lacks, verifies it, converts it into the model
 * directory. Resolves at once (nothing fetched) when the model directory is already complete.
 * Throws PullError (what to do in its message), ConversionError, AbortError.
 */
export async function pull(options: PullOptions = {}): Promise<PullResult> {
  validate(options);
  const requested = options.name ?? DEFAULT_MODEL;
  const hf = parseHfName(requested);
  const parsed = hf ? undefined : parseModelName(requested, options.type);
  if (!hf && !parsed) {
    throw new InvalidInputError(
      `Unknown model "${requested}": known models are ${Object.keys(MODELS).join(', ')} (optionally with :${CONVERT_TYPES.join('|:')}), or hf:<owner>/<repo>[:<file-prefix>] for a repo holding converted llm.gguf + encoders.gguf`,
    );
  }
  // a pre-converted repo holds the same weights: the default model's licences apply
  const spec = parsed?.spec ?? MODELS[DEFAULT_MODEL];
  const name = hf ? hf.name : parsed!.name;
  const type: string = hf ? hf.type : (options.type ?? parsed!.type);
  const out = path.resolve(options.dir ?? modelDirFor(name, type));
  const signal = options.signal;
  const emit = (p: PullProgress) => options.onProgress?.(p);
  if (isCompleteModel(out)) return { name, type, dir: out, downloaded: 0, alreadyPulled: true };

  const env = process.env;
  const offline = truthy(env.HF_HUB_OFFLINE);
  const client: HubClient = {
    endpoint: (options.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    token: options.token ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN ?? undefined,
    signal,
    retries: options.retries ?? 5,
    retryBaseMs: options.retryBaseMs ?? 1000,
    stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
    onRetry: (r) => emit({ stage: 'retry', message: `${r.why}: retry ${r.attempt} in ${(r.waitMs / 1000).toFixed(1)} s (${r.url})` }),
  };
  const hfCache = getHFHubCachePath();
  const rev = typeof options.revision === 'string' ? { model: options.revision } : (options.revision ?? {});
  const refs: { kind: SourceKind; ref: RepoRef; side: string[] }[] = hf
    ? [{ kind: 'gguf', ref: { repo: hf.repo, revision: rev.model ?? 'main' }, side: [`${hf.prefix}llm.gguf`, `${hf.prefix}encoders.gguf`] }]
    : [
        { kind: 'model', ref: { repo: spec.model.repo, revision: rev.model ?? spec.model.revision }, side: MODEL_SIDE },
        { kind: 'clip', ref: { repo: spec.clip.repo, revision: rev.clip ?? spec.clip.revision }, side: CLIP_SIDE },
      ];

  const release = await acquireLock(path.join(modelHome(), '.locks', `${name}.lock`), {
    signal,
    onWait: (holder) => emit({ stage: 'wait', message: `${holder} is pulling ${name}: waiting for it` }),
  });
  let downloaded = 0;
  const fetchedPaths: string[] = [];
  try {
    // the other pull may have finished it while we waited
    if (isCompleteModel(out)) return { name, type, dir: out, downloaded: 0, alreadyPulled: true };
    // conversions left by a killed pull (we hold the lock: nobody else is converting this name)
    try {
      for (const d of fs.readdirSync(path.dirname(out))) {
        if (d.startsWith(`${path.basename(out)}.partial-`)) fs.rmSync(path.join(path.dirname(out), d), { recursive: true, force: true });
      }
    } catch {
      // no parent folder yet
    }

    // 1. what to fetch
    const repos: { kind: SourceKind; repo: string; revision: string; commit: string; repoDir: string; files: RemoteFile[] }[] = [];
    for (const { kind, ref, side } of refs) {
      const repoDir = repoCacheDir(hfCache, ref.repo);
      if (offline) {
        const commit = cachedCommit(repoDir, ref.revision);
        if (!commit) {
          throw new PullError(
            'offline',
            `HF_HUB_OFFLINE is set and ${ref.repo}@${ref.revision} is not in the Hugging Face cache (${repoDir}). Unset HF_HUB_OFFLINE to download it, or point HF_HOME / HF_HUB_CACHE at a cache that has it`,
            { url: repoDir },
          );
        }
        const snapDir = path.join(repoDir, 'snapshots', commit);
        const missing = kind === 'gguf' ? side.filter((f) => !fs.existsSync(path.join(snapDir, f))).join(', ') || undefined : missingOffline(snapDir, side);
        if (missing) {
          throw new PullError(
            'offline',
            `HF_HUB_OFFLINE is set and the cached ${ref.repo}@${ref.revision} (${path.join(repoDir, 'snapshots', commit)}) lacks ${missing}. Unset HF_HUB_OFFLINE to download it`,
            { url: repoDir },
          );
        }
        repos.push({ kind, repo: ref.repo, revision: ref.revision, commit, repoDir, files: [] });
        continue;
      }
      const remote = await remoteSnapshot(client, ref.repo, ref.revision);
      const files = kind === 'gguf' ? remote.files.filter((f) => side.includes(f.path)) : selectFiles(remote.files, side);
      if (kind === 'gguf' && files.length !== side.length) {
        throw new PullError(
          'not_found',
          `${ref.repo}@${ref.revision}: the repo has no ${side.filter((f) => !files.some((x) => x.path === f)).join(' / ')}. Check the repo name and the file prefix (hf:<owner>/<repo>[:<file-prefix>])`,
        );
      }
      if (kind !== 'gguf' && !files.some((f) => /\.(bin|safetensors)$/.test(f.path))) {
        throw new PullError(
          'not_found',
          `${ref.repo}@${ref.revision}: no pytorch_model*.bin or model*.safetensors weights in the repo. Check the model name and revision`,
        );
      }
      repos.push({ kind, repo: ref.repo, revision: ref.revision, commit: remote.commit, repoDir, files });
    }
    const planFiles: PullPlanFile[] = repos.flatMap((r) =>
      r.files.map((f) => ({ repo: r.repo, path: f.path, size: f.size, cached: cachedFile(r.repoDir, r.commit, f) })),
    );
    const plan: PullPlan = {
      name,
      type,
      dir: out,
      hfCache,
      repos: repos.map((r) => ({ repo: r.repo, revision: r.revision, commit: r.commit })),
      files: planFiles,
      totalBytes: planFiles.reduce((a, f) => a + f.size, 0),
      downloadBytes: planFiles.filter((f) => !f.cached).reduce((a, f) => a + f.size, 0),
      licences: spec.licences,
    };
    emit({ stage: 'plan', plan });

    // 2. download what the cache lacks; 3. convert into a temporary folder, renamed into place.
    // For the default model both run at once (docs/PULL.md "Convert while downloading"): the small
    // files first, then the first bytes of every weight file (headers, resumed later: no byte
    // fetched twice), then the weights in the order the conversion reads them while convert()
    // plans from the headers and converts each file's tensors once that file is verified.
    const t0 = Date.now();
    let bytes = 0;
    let lastEmit = 0;
    const snapOf = (r: (typeof repos)[number]) => path.resolve(r.repoDir, 'snapshots', r.commit);
    const internal = new AbortController();
    const onOuterAbort = () => internal.abort();
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    client.signal = internal.signal;
    const gate = new DownloadGate();
    /** Per snapshot path: what this pull fetched for it (deleted with keepSource: false). */
    const fetchedFor = new Map<string, string[]>();
    const keepSource = options.keepSource !== false;
    gate.onRelease = (file) => {
      if (keepSource) return;
      for (const p of fetchedFor.get(file) ?? []) fs.rmSync(p, { force: true });
    };
    const onBytes = (r: (typeof repos)[number], f: RemoteFile, start: number) => {
      let fileBytes = start;
      return (n: number) => {
        fileBytes += n;
        bytes += n;
        if (n > 0) downloaded += n;
        const now = Date.now();
        if (now - lastEmit < 100 && fileBytes < f.size) return;
        lastEmit = now;
        const rate = bytes / Math.max(0.001, (now - t0) / 1000);
        emit({
          stage: 'download',
          file: `${r.repo}/${f.path}`,
          fileBytes,
          fileTotal: f.size,
          bytes,
          total: plan.downloadBytes,
          rate,
          eta: rate > 0 ? Math.max(0, plan.downloadBytes - bytes) / rate : undefined,
        });
      };
    };
    const blobOf = (r: (typeof repos)[number], f: RemoteFile) => path.join(r.repoDir, 'blobs', etagOf(f));
    const incompleteSize = (blob: string) => {
      try {
        return fs.statSync(`${blob}.incomplete`).size;
      } catch {
        return 0;
      }
    };
    const fetchFile = async (r: (typeof repos)[number], f: RemoteFile) => {
      const snapPath = path.join(snapOf(r), ...f.path.split('/'));
      if (cachedFile(r.repoDir, r.commit, f)) return;
      const etag = etagOf(f);
      const blob = blobOf(r, f);
      let blobOk = false;
      try {
        blobOk = fs.statSync(blob).size === f.size;
      } catch {
        // not there
      }
      const mine: string[] = [];
      if (!blobOk) {
        await downloadBlob(client, r.repo, r.commit, f, blob, onBytes(r, f, incompleteSize(blob)));
        mine.push(blob);
      }
      mine.push(linkSnapshot(r.repoDir, r.commit, f.path, etag));
      fetchedPaths.push(...mine);
      fetchedFor.set(snapPath, mine);
      gate.complete(snapPath);
    };
    for (const r of repos) {
      if (r.revision !== r.commit) {
        fs.mkdirSync(path.join(r.repoDir, 'refs'), { recursive: true });
        fs.writeFileSync(path.join(r.repoDir, 'refs', r.revision), r.commit);
      }
    }
    const isWeight = (f: RemoteFile) => /\.(bin|safetensors)$/.test(f.path);
    const overlap = !hf;
    const all = repos.flatMap((r) => r.files.map((f) => ({ r, f })));
    // CLIP's weights first (the smallest; planning needs every header), then the model's shards in order
    const weights = all
      .filter((x) => overlap && isWeight(x.f))
      .sort((a, b) => (a.r.kind === b.r.kind ? (a.f.path < b.f.path ? -1 : 1) : a.r.kind === 'clip' ? -1 : 1));
    const first = all.filter((x) => !weights.includes(x));
    for (const x of weights) {
      if (!cachedFile(x.r.repoDir, x.r.commit, x.f)) gate.add(path.join(snapOf(x.r), ...x.f.path.split('/')), `${blobOf(x.r, x.f)}.incomplete`, x.f.size);
    }
    let sideOk: () => void = () => {};
    let sideFailed: (err: unknown) => void = () => {};
    const sideDone = new Promise<void>((resolve, reject) => {
      sideOk = resolve;
      sideFailed = reject;
    });
    sideDone.catch(() => undefined);
    const downloads = (async () => {
      try {
        for (const { r, f } of first) await fetchFile(r, f);
      } catch (err) {
        sideFailed(err);
        throw err;
      }
      sideOk();
      for (const { r, f } of weights) {
        if (!cachedFile(r.repoDir, r.commit, f) && !fs.existsSync(blobOf(r, f))) {
          await prefetchHead(client, r.repo, r.commit, f, blobOf(r, f), EARLY_HEADER_BYTES, onBytes(r, f, incompleteSize(blobOf(r, f))));
        }
        gate.headFetched(path.join(snapOf(r), ...f.path.split('/')));
      }
      for (const { r, f } of weights) await fetchFile(r, f);
    })();
    let firstFailure: 'download' | 'convert' | undefined;
    const downloading = downloads.catch((err: unknown) => {
      firstFailure ??= 'download';
      gate.failAll(err);
      throw err;
    });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.partial-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const snap = (kind: SourceKind) => snapOf(repos.find((x) => x.kind === kind)!);
    const runConvert = (withGate: boolean) =>
      convert({
        model: snap('model'),
        clip: snap('clip'),
        out: tmp,
        type: type as ConvertType,
        signal,
        gate: withGate ? gate : undefined,
        onProgress: (c) => emit({ stage: 'convert', convert: c }),
      });
    try {
      if (hf) {
        await downloading;
        await installPreconverted(snap('gguf'), hf.prefix, tmp, repos[0], signal);
      } else {
        // the side files (config, tokenizer, index) are complete before convert() reads them
        const converting = (async () => {
          await sideDone;
          return runConvert(true);
        })().catch((err: unknown) => {
          firstFailure ??= 'convert';
          // a ConversionError may come from header bytes not verified yet: the downloads go on
          if (!(err instanceof ConversionError)) internal.abort();
          throw err;
        });
        const [d, c] = await Promise.allSettled([downloading, converting]);
        if (d.status === 'rejected') {
          if (c.status === 'rejected' && firstFailure === 'convert' && !(c.reason instanceof ConversionError)) throw c.reason;
          throw d.reason;
        }
        if (c.status === 'rejected') {
          if (!(c.reason instanceof ConversionError)) throw c.reason;
          // planned from header bytes read before their file was verified (SourceChangedError, or a
          // header that did not parse): convert again from the verified files; a real fault recurs
          fs.rmSync(tmp, { recursive: true, force: true });
          await runConvert(false);
        }
      }
      if (signal?.aborted) throw new AbortError('Pull aborted');
      // an incomplete leftover at the destination (not a complete model: checked above) is replaced
      fs.rmSync(out, { recursive: true, force: true });
      await durableRename(tmp, out);
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    if (!keepSource) {
      for (const p of fetchedPaths) fs.rmSync(p, { force: true });
    }
    emit({ stage: 'done', message: out });
    return { name, type, dir: out, downloaded, alreadyPulled: false, plan };
  } finally {
    release();
  }
}

/** A plan without downloading: what a pull of `name` would fetch (online) — for the CLI's notice. */
export function describeModel(name = DEFAULT_MODEL): {
  name: string;
  type: ConvertType;
  dir: string;
  description: string;
  licences: string[];
  repos: RepoRef[];
} {
  const parsed = parseModelName(name);
  if (!parsed) throw new InvalidInputError(`Unknown model "${name}": known models are ${Object.keys(MODELS).join(', ')}`);
  return {
    name: parsed.name,
    type: parsed.type,
    dir: modelDirFor(parsed.name, parsed.type),
    description: parsed.spec.description,
    licences: licenceLines(parsed.spec),
    repos: [parsed.spec.model, parsed.spec.clip],
  };
}

export interface CachedModel {
  /** `name:type`. */
  id: string;
  name: string;
  type: string;
  dir: string;
  bytes: number;
  complete: boolean;
}

/** The models in the model home, with their sizes. */
export function listModels(home = modelHome()): CachedModel[] {
  const out: CachedModel[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(home).filter((n) => !n.startsWith('.'));
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const nd = path.join(home, name);
    if (!fs.statSync(nd).isDirectory()) continue;
    for (const type of fs.readdirSync(nd).sort()) {
      const dir = path.join(nd, type);
      if (type.includes('.partial-') || !fs.statSync(dir).isDirectory()) continue;
      let bytes = 0;
      for (const f of fs.readdirSync(dir)) {
        const st = fs.statSync(path.join(dir, f));
        if (st.isFile()) bytes += st.size;
      }
      out.push({ id: `${name}:${type}`, name, type, dir, bytes, complete: isCompleteModel(dir) });
    }
  }
  return out;
}

/** Removes `name` (all types) or `name:type` from the model home; returns the folders removed. */
export function removeModel(id: string, home = modelHome()): string[] {
  const [name, type] = id.split(':', 2);
  if (!name || name.startsWith('.') || /[/\\]/.test(id) || name === '..' || type === '..') throw new InvalidInputError(`Not a model name: "${id}"`);
  const matches = listModels(home).filter((m) => m.name === name.toLowerCase() && (!type || m.type === type));
  for (const m of matches) fs.rmSync(m.dir, { recursive: true, force: true });
  if (!type) fs.rmSync(path.join(home, name.toLowerCase()), { recursive: true, force: true });
  else {
    try {
      fs.rmdirSync(path.join(home, name.toLowerCase()));
    } catch {
      // other types remain
    }
  }
  return matches.map((m) => m.dir);
}

/**
 * For loadModel: `value` as a model name. Undefined when it is not a known name (a path then);
 * the model directory when it is in the cache; with `pullIfMissing` it is pulled first;
 * otherwise a ModelLoadError saying to pull it.
 */
export async function namedModelDir(value: string, options: { pullIfMissing?: boolean; signal?: AbortSignal } = {}): Promise<string | undefined> {
  const named = resolveModelName(value);
  if (!named) return undefined;
  if (named.cached) return named.dir;
  if (options.pullIfMissing) return (await pull({ name: value, signal: options.signal })).dir;
  throw new ModelLoadError(`The model "${value}" is not in the model cache (${named.dir}): run \`groundinggpt pull ${value}\` (or pass pull: true)`, {
    file: named.dir,
  });
}
