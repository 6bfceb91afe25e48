// The tiny golden model converted by the project's own converter (llm.gguf + encoders.gguf in a
// temp dir), once per weight type per test process.
import path from 'node:path';
import { tempDir, tinyDir } from './golden';
import { convert } from '../../src/convert/index';

export type TinyType = 'f32' | 'f16' | 'q8_0' | 'q4_k_m';
export interface TinyFiles {
  llm: string;
  encoders: string;
}

const cache = new Map<TinyType, Promise<TinyFiles>>();

/** The converted tiny model files of a weight type (f32 unless asked: comparisons to float rounding). */
export function tinyConverted(type: TinyType = 'f32'): Promise<TinyFiles> {
  let p = cache.get(type);
  if (!p) {
    p = (async () => {
      const out = tempDir(`ggpt-tiny-${type}-`);
      await convert({ model: path.join(tinyDir, 'groundinggpt'), clip: path.join(tinyDir, 'clip'), out, type });
      return { llm: path.join(out, 'llm.gguf'), encoders: path.join(out, 'encoders.gguf') };
    })();
    cache.set(type, p);
  }
  return p;
}
