/** loadModel(): a model directory, files, or a model name from the model cache (src/pull). */
import type { Model } from './model';
import { openModel } from './open';
import { namedModelDir } from './pull/index';
import type { LoadModelOptions } from './types';

/**
 * Loads a converted GroundingGPT model and creates its context.
 *
 * @throws InvalidInputError for bad options, ModelLoadError for a missing or corrupt file (naming
 *   it), AbortError when `signal` aborts.
 */
export function loadModel(options: LoadModelOptions): Promise<Model> {
  return openModel(options, namedModelDir);
}
