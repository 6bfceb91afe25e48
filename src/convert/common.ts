/** Definitions shared by convert() and synth(). */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native';
import { durableRename, tempPathFor } from '../util/atomic';

export type ConvertType = 'f32' | 'f16' | 'q8_0' | 'q4_k_m';
export const CONVERT_TYPES: readonly ConvertType[] = ['f32', 'f16', 'q8_0', 'q4_k_m'];

/** The files of a model directory. */
export const MODEL_FILES = {
  llm: 'llm.gguf',
  encoders: 'encoders.gguf',
  manifest: 'manifest.json',
} as const;

/** Paths of the three files of a model directory. */
export interface ModelPaths {
  llm: string;
  encoders: string;
  manifest: string;
}

/** The files of a model directory `outDir`, and temporary names next to them. */
export function modelPaths(outDir: string): { dest: ModelPaths; tmp: ModelPaths } {
  const dest = {
    llm: path.join(outDir, MODEL_FILES.llm),
    encoders: path.join(outDir, MODEL_FILES.encoders),
    manifest: path.join(outDir, MODEL_FILES.manifest),
  };
  return { dest, tmp: { llm: tempPathFor(dest.llm), encoders: tempPathFor(dest.encoders), manifest: tempPathFor(dest.manifest) } };
}

/**
 * Writes manifest.json (no timestamps: byte-identical on a re-run) next to the finished GGUF
 * temporaries, then renames all three into place. `extra` says where the weights came from.
 */
export async function publishModel(
  tmp: ModelPaths,
  dest: ModelPaths,
  type: ConvertType,
  extra: Record<string, unknown>,
): Promise<{ llm: number; encoders: number }> {
  const bytes = { llm: (await fs.promises.stat(tmp.llm)).size, encoders: (await fs.promises.stat(tmp.encoders)).size };
  const manifest = {
    format: 'groundinggpt-model',
    formatVersion: 1,
    type,
    tool: { name: 'groundinggpt', version: toolVersion() },
    files: {
      llm: { file: MODEL_FILES.llm, bytes: bytes.llm },
      encoders: { file: MODEL_FILES.encoders, bytes: bytes.encoders },
    },
    ...extra,
  };
  await fs.promises.writeFile(tmp.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  // durable: each file flushed before its rename, the folder after (src/util/atomic.ts)
  await durableRename(tmp.llm, dest.llm);
  await durableRename(tmp.encoders, dest.encoders);
  await durableRename(tmp.manifest, dest.manifest);
  return bytes;
}

/** This package's version (written in manifests). */
export function toolVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
