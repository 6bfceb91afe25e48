/** Definitions shared by convert() and synth(). */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native';

export type ConvertType = 'f32' | 'f16' | 'q8_0' | 'q4_k_m';
export const CONVERT_TYPES: readonly ConvertType[] = ['f32', 'f16', 'q8_0', 'q4_k_m'];

/** The files of a model directory. */
export const MODEL_FILES = {
  llm: 'llm.gguf',
  encoders: 'encoders.gguf',
  manifest: 'manifest.json',
} as const;

/** This package's version (written in manifests). */
export function toolVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
