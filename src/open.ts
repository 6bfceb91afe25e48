/**
 * Opening a model (what loadModel() does once a model name is resolved, src/load.ts): option
 * validation, paths to files, the native load with progress and abort, and the typed errors of a
 * failed load. The model cache (src/pull) opens models through this module too.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ModelLoadError } from './errors';
import { DEFAULT_FEATURE_CACHE_BYTES } from './features';
import { setLogger } from './logging';
import { Engine } from './engine';
import { DEFAULT_KV_CACHE_BYTES, KvDiskCache } from './kvcache';
import { toolVersion } from './convert/common';
import { Model, towerMask } from './model';
import { native, type NativeModel } from './native';
import { abortError, errorCode, linkCancel, mapNativeError } from './task';
import { TOWER_MATMULS, type KvType, type LoadModelOptions, type Logger, type ModelFiles, type TowerMatmul } from './types';
import {
  CallbackGuard,
  integer,
  invalid,
  isPlainObject,
  oneOf,
  optionalBoolean,
  optionalFunction,
  optionalInteger,
  optionalSignal,
  string,
} from './util/validate';

function resolveFiles(value: unknown): { llm: string; encoders?: string } {
  if (typeof value === 'string') {
    if (value.length === 0) throw invalid('a model directory or { llm, encoders? }', 'model', value);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(value);
    } catch {
      throw new ModelLoadError(`Cannot find the model at ${value}`, { file: value });
    }
    if (!stat.isDirectory()) return { llm: regularFile(value) };
    const llm = path.join(value, 'llm.gguf');
    if (!fs.existsSync(llm)) throw new ModelLoadError(`The model directory ${value} has no llm.gguf`, { file: llm });
    const encoders = path.join(value, 'encoders.gguf');
    return fs.existsSync(encoders) ? { llm: regularFile(llm), encoders: regularFile(encoders) } : { llm: regularFile(llm) };
  }
  if (!isPlainObject(value)) throw invalid('a model directory or { llm, encoders? }', 'model', value);
  const llm = string(value.llm, 'model.llm');
  const encoders = value.encoders === undefined ? undefined : string(value.encoders, 'model.encoders');
  for (const f of [llm, encoders]) {
    if (f !== undefined && !fs.existsSync(f)) throw new ModelLoadError(`Cannot find the model file ${f}`, { file: f });
  }
  return encoders === undefined ? { llm: regularFile(llm) } : { llm: regularFile(llm), encoders: regularFile(encoders) };
}

/**
 * A model file must be a regular file (symbolic links to one are followed): the core opens and
 * memory-maps it on the model's thread, and a FIFO or a character device would block that open or
 * read forever, out of reach of an AbortSignal.
 */
function regularFile(file: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ModelLoadError(`Cannot find the model file ${file}`, { file });
  }
  if (!stat.isFile()) throw new ModelLoadError(`The model file ${file} is not a regular file`, { file });
  return file;
}

/** The RPC options of loadModel (README "Several machines (RPC)"), validated. */
function rpcOptions(o: Record<string, unknown>): { rpc?: string[]; tensorSplit?: number[]; towerRpcDevice?: number; rpcTimeoutMs?: number } {
  const out: { rpc?: string[]; tensorSplit?: number[]; towerRpcDevice?: number; rpcTimeoutMs?: number } = {};
  if (o.rpc !== undefined) {
    if (!Array.isArray(o.rpc) || o.rpc.length > 16) throw invalid("an array of at most 16 'host:port' strings", 'options.rpc', o.rpc);
    out.rpc = o.rpc.map((e, i) => {
      const s = string(e, `options.rpc[${i}]`);
      const m = /^([^:\s]+):(\d{1,5})$/.exec(s);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw invalid("'host:port' (port 1-65535)", `options.rpc[${i}]`, e);
      return s;
    });
    if (out.rpc.length === 0) delete out.rpc;
  }
  if (o.tensorSplit !== undefined) {
    if (!Array.isArray(o.tensorSplit) || o.tensorSplit.length === 0 || o.tensorSplit.length > 64)
      throw invalid('an array of 1-64 non-negative numbers', 'options.tensorSplit', o.tensorSplit);
    out.tensorSplit = o.tensorSplit.map((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid('a non-negative number', `options.tensorSplit[${i}]`, v);
      return v;
    });
    if (!out.tensorSplit.some((v) => v > 0)) throw invalid('at least one positive share', 'options.tensorSplit', o.tensorSplit);
  }
  if (o.towerDevice !== undefined && o.towerDevice !== 'local') {
    const m = typeof o.towerDevice === 'string' ? /^rpc:(\d{1,2})$/.exec(o.towerDevice) : null;
    if (!m) throw invalid("'local' or 'rpc:N'", 'options.towerDevice', o.towerDevice);
    if (!out.rpc) throw invalid("RPC servers (options.rpc) for towerDevice 'rpc:N'", 'options.towerDevice', o.towerDevice);
    out.towerRpcDevice = Number(m[1]);
  }
  const timeout = optionalInteger(o.rpcTimeoutMs, 'options.rpcTimeoutMs', 100, 24 * 3600 * 1000, 0);
  if (timeout > 0) out.rpcTimeoutMs = timeout;
  return out;
}

/**
 * Resolves a model name that is not a path to a model directory (src/pull/index.ts
 * namedModelDir); undefined when it is not a known name.
 */
export type NameResolver = (name: string, options: { pullIfMissing?: boolean; signal?: AbortSignal }) => Promise<string | undefined>;

/**
 * loadModel() with model names resolved by `resolveName` (without one, `options.model` must be
 * a path or files).
 */
export async function openModel(options: LoadModelOptions, resolveName?: NameResolver): Promise<Model> {
  if (!isPlainObject(options)) throw invalid('an options object', 'options', options);
  const o = options as unknown as Record<string, unknown>;
  const signal = optionalSignal(o.signal, 'options.signal');
  const onProgress = optionalFunction<(fraction: number) => unknown>(o.onProgress, 'options.onProgress');
  const logger = optionalFunction<Logger>(o.logger, 'options.logger');
  const threads = optionalInteger(o.threads, 'options.threads', 1, 512, 0);
  const gpuLayers = o.gpuLayers === undefined ? undefined : integer(o.gpuLayers, 'options.gpuLayers', -1, 100000);
  const contextSize = optionalInteger(o.contextSize, 'options.contextSize', 8, 1 << 20, 0);
  const batchSize = optionalInteger(o.batchSize, 'options.batchSize', 1, 8192, 512);
  const parallel = optionalInteger(o.parallel, 'options.parallel', 1, 64, 1);
  const kvType = oneOf<KvType>(o.kvType, 'options.kvType', ['f16', 'f32', 'q8_0'], 'f16');
  const flashAttn = oneOf(o.flashAttn, 'options.flashAttn', ['auto', 'on', 'off'] as const, 'auto');
  const towerMatmul = oneOf<TowerMatmul>(o.towerMatmul, 'options.towerMatmul', TOWER_MATMULS, 'auto');
  const remote = rpcOptions(o);
  if (signal?.aborted) throw abortError(signal);
  const loadEncoders = optionalBoolean(o.loadEncoders, 'options.loadEncoders', true);
  // towers read at load; the others when a call first needs them (docs/ARCHITECTURE.md "Towers on demand")
  const towers = towerMask(o.towers, 'options.towers', 'none');
  const featureCacheBytes = optionalInteger(o.featureCacheBytes, 'options.featureCacheBytes', 0, Number.MAX_SAFE_INTEGER, DEFAULT_FEATURE_CACHE_BYTES);
  const kvCacheDir = o.kvCacheDir === undefined ? undefined : path.resolve(string(o.kvCacheDir, 'options.kvCacheDir'));
  const kvCacheBytes = optionalInteger(o.kvCacheBytes, 'options.kvCacheBytes', 0, Number.MAX_SAFE_INTEGER, DEFAULT_KV_CACHE_BYTES);
  // a model name ('groundinggpt-7b[:type]') that is not a path: the model cache (src/pull/index.ts)
  const isName = resolveName !== undefined && typeof o.model === 'string' && o.model !== '' && !fs.existsSync(o.model);
  const named = isName ? await resolveName(o.model as string, { pullIfMissing: o.pull === true, signal }) : undefined;
  const resolved = resolveFiles(named ?? o.model);
  const files: ModelFiles = loadEncoders ? resolved : { llm: resolved.llm };
  if (logger) setLogger(logger);

  const addon = native();
  const { cancel, unlink } = linkCancel(signal);
  // an onProgress whose promise rejects stops the load like one that throws
  const guard = new CallbackGuard();
  guard.onFailure = () => cancel.cancel();
  let nm: NativeModel;
  try {
    nm = await addon.loadModel(
      {
        llm: files.llm,
        ...(files.encoders !== undefined ? { encoders: files.encoders } : {}),
        // with RPC servers every layer is offloaded unless gpuLayers says otherwise
        ...(gpuLayers !== undefined ? { gpuLayers } : remote.rpc ? { gpuLayers: -1 } : {}),
        ...remote,
        encodersOnGpu: true,
        useMmap: true,
        towerMatmul,
        contextSize,
        batchSize,
        parallel,
        threads,
        threadsBatch: threads,
        kvType,
        flashAttn,
        towers,
      },
      cancel,
      guard.wrap(onProgress),
    );
  } catch (err) {
    await guard.settle();
    const code = errorCode(err);
    if (code === 'REMOTE') {
      // an RPC server unreachable or failing during the load: the message names it
      throw new ModelLoadError(err instanceof Error ? err.message : String(err), { cause: err });
    }
    if (code === 'IO' || code === 'FORMAT' || code === 'UNSUPPORTED') {
      const message = err instanceof Error ? err.message : String(err);
      // the addon names the failing file (the core's ggpt_load_error.file) as `file`
      const named = (err as { file?: unknown }).file;
      const file = typeof named === 'string' && named !== '' ? named : files.llm;
      throw new ModelLoadError(message, { cause: err, file });
    }
    throw mapNativeError(err, signal);
  } finally {
    unlink();
  }
  try {
    await guard.settle();
  } catch (err) {
    await nm.dispose();
    throw err;
  }
  if (signal?.aborted) {
    await nm.dispose();
    throw abortError(signal);
  }
  const kvDisk = kvCacheDir && kvCacheBytes > 0 ? new KvDiskCache(kvCacheDir, kvCacheBytes, kvIdentity(files, { kvType, flashAttn, gpuLayers })) : undefined;
  return new Model(new Engine(nm, files, featureCacheBytes, kvDisk));
}

/** What a KV snapshot depends on: the model files as they are now, the KV type, this build. */
function kvIdentity(files: ModelFiles, o: Record<string, unknown>): string {
  const id = (f: string | undefined) => {
    if (f === undefined) return '-';
    const st = fs.statSync(f);
    return `${fs.realpathSync(f)}:${st.size}:${st.mtimeMs}`;
  };
  return JSON.stringify({ v: toolVersion(), llm: id(files.llm), encoders: id(files.encoders), ...o });
}
