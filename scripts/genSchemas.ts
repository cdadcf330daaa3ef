// Writes schemas/*.schema.json from the zod schemas of core/api (run: npm run gen:schemas).
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { PlanFileSchema } from '../core/api/planFile.js';

export function planJsonSchema(): string {
  return JSON.stringify({ $id: 'https://partita.invalid/schemas/plan.schema.json', title: 'Partita plan.json', ...z.toJSONSchema(PlanFileSchema) }, null, 2) + '\n';
}

if (process.argv[1]?.endsWith('genSchemas.ts')) writeFileSync(new URL('../schemas/plan.schema.json', import.meta.url), planJsonSchema());
