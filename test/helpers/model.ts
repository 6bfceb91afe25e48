// The tiny golden model converted once per test file (f32, so comparisons are exact to float
// rounding), through the project's own converter.
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, tinyDir } from './golden';

const convertModule = path.resolve(__dirname, '..', '..', 'src', 'convert', 'index.ts');

interface ConvertFn {
  (options: { model: string; clip: string; out: string; type?: string }): Promise<unknown>;
}

const cached = new Map<string, Promise<{ llm: string } | { skip: string }>>();

/**
 * Path of a converted tiny LLM GGUF (`llm.gguf` in a temp dir; f32 unless `type` says otherwise),
 * or a skip reason when this checkout has no converter. GROUNDINGGPT_TEST_LLM may name a ready
 * f32 file instead.
 */
export function tinyLlm(type: 'f32' | 'f16' | 'q8_0' | 'q4_k_m' = 'f32'): Promise<{ llm: string } | { skip: string }> {
  let p = cached.get(type);
  if (p) return p;
  p = (async () => {
    const override = process.env.GROUNDINGGPT_TEST_LLM;
    if (override && type === 'f32') return { llm: path.resolve(override) };
    if (!fs.existsSync(convertModule)) {
      return { skip: 'needs the converter (src/convert) to make the tiny model; set GROUNDINGGPT_TEST_LLM to a converted tiny llm.gguf to run it anyway' };
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { convert } = require(convertModule) as { convert: ConvertFn };
    const out = tempDir('ggpt-llm-');
    await convert({
      model: path.join(tinyDir, 'groundinggpt'),
      clip: path.join(tinyDir, 'clip'),
      out,
      type,
    });
    return { llm: path.join(out, 'llm.gguf') };
  })();
  cached.set(type, p);
  return p;
}
