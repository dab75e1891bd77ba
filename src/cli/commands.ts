/** Registration of every command module except eval (kept separate so modules can be added independently). */
import type { Command } from 'commander';
import { registerCampaign } from './campaign.js';

export function registerAll(program: Command): void {
  registerCampaign(program);
}
