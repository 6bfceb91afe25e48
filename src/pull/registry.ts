/**
 * Model names, the repos and revisions they come from, their licences, and where models live.
 *
 * A model name is `<name>[:<type>]`, e.g. `groundinggpt-7b` or `groundinggpt-7b:q8_0`; its
 * converted files live in `<model home>/<name>/<type>/` (llm.gguf, encoders.gguf, manifest.json).
 * The model home is `$GROUNDINGGPT_HOME`, else the platform's cache folder + `groundinggpt`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONVERT_TYPES, type ConvertType } from '../convert/common';

export interface RepoRef {
  /** Hub repo id, 'owner/name'. */
  repo: string;
  /**
   * The revision pulled: a 40-hex commit id pins the exact files. The real Hub cannot be reached
   * from where this code was written, so the default model records the branch 'main'; its commit
   * ids must be looked up on the Hub and written here before a release.
   */
  revision: string;
}

export interface Licence {
  /** What the licence covers. */
  part: string;
  licence: string;
  note?: string;
}

export interface ModelSpec {
  /** GroundingGPT checkpoint repo (config.json, tokenizer, weights incl. the towers' Q-Formers and ImageBind). */
  model: RepoRef;
  /** CLIP ViT-L/14-336 repo. */
  clip: RepoRef;
  defaultType: ConvertType;
  description: string;
  licences: Licence[];
}

export const DEFAULT_MODEL = 'groundinggpt-7b';

/** The models `pull` knows by name. Revisions are the one place pinned commits are recorded. */
export const MODELS: Record<string, ModelSpec> = {
  'groundinggpt-7b': {
    model: { repo: 'zwli/GroundingGPT', revision: 'main' },
    clip: { repo: 'openai/clip-vit-large-patch14-336', revision: 'main' },
    defaultType: 'q4_k_m',
    description: 'GroundingGPT-7B (LLaMA-2-7B based, image/video/audio grounding) with CLIP ViT-L/14-336',
    // What each part's source says (docs/PULL.md "Licences"): the GroundingGPT code repository
    // (github.com/lzw-lzw/GroundingGPT) is Apache-2.0 and its README names no licence for the
    // weights; its training-data repo on the Hub (datasets/zwli/GroundingGPT) is tagged apache-2.0;
    // the model card of zwli/GroundingGPT could not be read from where this was written.
    licences: [
      { part: 'GroundingGPT code (github.com/lzw-lzw/GroundingGPT)', licence: 'Apache-2.0', note: 'the repo states no separate licence for the weights' },
      { part: 'GroundingGPT LLM weights', licence: 'LLaMA 2 Community License', note: 'derived from Meta LLaMA 2 (via Vicuna-7B v1.5)' },
      { part: 'CLIP ViT-L/14-336 (openai)', licence: 'MIT' },
      { part: 'ImageBind weights (audio tower)', licence: 'CC BY-NC 4.0', note: 'non-commercial use only; some re-uploads say CC BY-NC-SA 4.0' },
      { part: 'BLIP-2 Q-Former and EVA ViT-g weights (Salesforce LAVIS)', licence: 'BSD-3-Clause' },
    ],
  },
};

/** The licences as printable lines. */
export function licenceLines(spec: ModelSpec): string[] {
  return spec.licences.map((l) => `${l.part}: ${l.licence}${l.note ? ` (${l.note})` : ''}`);
}

export interface ParsedName {
  name: string;
  type: ConvertType;
  spec: ModelSpec;
}

/** Whether a string looks like a model name (`name` or `name:type`) rather than a path. */
export function isModelName(value: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*(:[a-z0-9_]+)?$/i.test(value) && !value.includes('/') && !value.includes('\\');
}

/** Parses `name[:type]`; undefined when the name is not a known model. */
export function parseModelName(value: string, type?: ConvertType): ParsedName | undefined {
  const [name, tag] = value.toLowerCase().split(':', 2);
  const spec = MODELS[name];
  if (!spec) return undefined;
  const t = (tag ?? type ?? spec.defaultType) as ConvertType;
  if (!CONVERT_TYPES.includes(t)) return undefined;
  return { name, type: t, spec };
}

/** `$GROUNDINGGPT_HOME`, else `$XDG_CACHE_HOME/groundinggpt` or `~/.cache/groundinggpt`
 * (`~/Library/Caches/groundinggpt` on macOS, `%LOCALAPPDATA%\groundinggpt` on Windows). */
export function modelHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GROUNDINGGPT_HOME) return path.resolve(env.GROUNDINGGPT_HOME);
  if (process.platform === 'win32') {
    return path.join(env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'), 'groundinggpt');
  }
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'groundinggpt');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'groundinggpt');
}

/** The model directory of a name and type in the model home. */
export function modelDirFor(name: string, type: string, home = modelHome()): string {
  return path.join(home, name, type);
}

/** `hf:<owner>/<repo>[:<file-prefix>]`: a repo holding converted `<prefix>llm.gguf` + `<prefix>encoders.gguf`. */
export function parseHfName(value: string): { repo: string; prefix: string; name: string; type: string } | undefined {
  const m = /^hf:([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?::([\w./-]*))?$/.exec(value);
  if (!m || m[2]?.split('/').some((p) => p === '..' || p === '.')) return undefined;
  const prefix = m[2] ?? '';
  return { repo: m[1], prefix, name: `hf--${m[1].replace('/', '--')}`, type: prefix.replace(/\/+$/, '').replace(/[^\w.-]+/g, '_') || 'default' };
}

/** Whether `dir` holds a complete converted model (manifest.json is written last). */
export function isCompleteModel(dir: string): boolean {
  return ['llm.gguf', 'encoders.gguf', 'manifest.json'].every((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * For loadModel: a model name (`groundinggpt-7b[:type]`) to its directory in the model home.
 * Returns undefined when `value` is not a model name (a path then); `cached` says whether the
 * converted model is there.
 */
export function resolveModelName(value: string): { dir: string; name: string; type: string; cached: boolean } | undefined {
  const hf = parseHfName(value);
  if (hf) {
    const dir = modelDirFor(hf.name, hf.type);
    return { dir, name: hf.name, type: hf.type, cached: isCompleteModel(dir) };
  }
  if (!isModelName(value)) return undefined;
  const parsed = parseModelName(value);
  if (!parsed) return undefined;
  const dir = modelDirFor(parsed.name, parsed.type);
  return { dir, name: parsed.name, type: parsed.type, cached: isCompleteModel(dir) };
}
