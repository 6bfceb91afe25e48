// The tiny golden model converted by the project's converter at a given weight type (llm.gguf +
// encoders.gguf in a temp dir), cached per type within a test process.
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, tinyDir } from './golden';

const convertModule = path.resolve(__dirname, '..', '..', 'src', 'convert', 'index.ts');

export type TinyType = 'f32' | 'f16' | 'q8_0';
export interface TinyFiles {
  llm: string;
  encoders: string;
}

interface ConvertFn {
  (options: { model: string; clip: string; out: string; type?: string }): Promise<unknown>;
}

const cache = new Map<TinyType, Promise<TinyFiles | { skip: string }>>();

/**
 * Converted tiny model files of a weight type, or a skip reason when this checkout has no
 * converter. GROUNDINGGPT_TEST_CONVERTED may name a directory holding <type>/llm.gguf and
 * <type>/encoders.gguf instead.
 */
export function tinyConverted(type: TinyType): Promise<TinyFiles | { skip: string }> {
  let p = cache.get(type);
  if (!p) {
    p = (async () => {
      const dir = process.env.GROUNDINGGPT_TEST_CONVERTED;
      if (dir) return { llm: path.join(dir, type, 'llm.gguf'), encoders: path.join(dir, type, 'encoders.gguf') };
      if (!fs.existsSync(convertModule)) return { skip: 'needs the converter (src/convert) to make the tiny model' };
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { convert } = require(convertModule) as { convert: ConvertFn };
      const out = tempDir(`ggpt-tiny-${type}-`);
      await convert({ model: path.join(tinyDir, 'groundinggpt'), clip: path.join(tinyDir, 'clip'), out, type });
      return { llm: path.join(out, 'llm.gguf'), encoders: path.join(out, 'encoders.gguf') };
    })();
    cache.set(type, p);
  }
  return p;
}
