// The attack corpus: every case of every category, in a fixed order (the same list in the test
// process and in each child, which runs cases by id).
import type { AttackCase, AttackEnv } from './case';
import { apiCases } from './cases-api';
import { convertCases } from './cases-convert';
import { encodersCases, llmCases } from './cases-gguf';
import { mediaCases } from './cases-media';

export function allCases(env: AttackEnv): AttackCase[] {
  const cases = [...llmCases(env), ...encodersCases(env), ...convertCases(env), ...mediaCases(env), ...apiCases(env)];
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(c.id)) throw new Error(`duplicate attack case id ${c.id}`);
    ids.add(c.id);
  }
  return cases;
}
