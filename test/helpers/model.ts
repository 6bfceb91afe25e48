// The tiny golden model converted once per test file (f32, so comparisons are exact to float
// rounding), through the project's own converter.
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, tinyDir } from './golden';

const convertModule = path.resolve(__dirname, '..', '..', 'src', 'convert', 'index.ts');

interface ConvertFn {
  (options: { model: string; clip: string; out: string; type?: string }): Promise<unknown>;
}

let cached: Promise<{ llm: string } | { skip: string }> | undefined;

/**
 * Path of a converted tiny LLM GGUF (`llm.gguf` in a temp dir), or a skip reason when this
 * checkout has no converter yet. GROUNDINGGPT_TEST_LLM may name a ready file instead.
 */
export function tinyLlm(): Promise<{ llm: string } | { skip: string }> {
  cached ??= (async () => {
    const override = process.env.GROUNDINGGPT_TEST_LLM;
    if (override) return { llm: path.resolve(override) };
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
      type: 'f32',
    });
    return { llm: path.join(out, 'llm.gguf') };
  })();
  return cached;
}
