/**
 * `--help` of every command and subcommand: it exits 0 and shows the command's usage line, its
 * description, each of its visible options and its subcommands, as the program defines them (so a
 * command whose help breaks, or an option missing from it, fails here). `proact --help` runs through
 * the real executable; the rest through `main` in-process (the same parser, without a process start each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { buildProgram, main } from '../../src/cli/program.js';
import { runCli } from '../helpers/cli.js';

function commandsOf(c: Command, path: string[] = []): { path: string[]; command: Command }[] {
  return c.commands.flatMap((sub) => [{ path: [...path, sub.name()], command: sub }, ...commandsOf(sub, [...path, sub.name()])]);
}

const program = buildProgram();
const all = commandsOf(program);

test('proact --help lists every command', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: proact /);
  for (const c of program.commands) assert.match(r.stdout, new RegExp(`^  ${c.name()}\\b`, 'm'), c.name());
});

/** Runs `proact <argv>` in-process with a fresh program whose output is captured. */
async function runInProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = buildProgram();
  let stdout = '';
  let stderr = '';
  const capture = (c: Command): void => {
    c.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s), outputError: () => {} });
    c.commands.forEach(capture);
  };
  capture(p);
  const code = await main(argv, p);
  return { code, stdout, stderr };
}

test('every command and subcommand answers --help with its usage, description, options and subcommands', async () => {
  assert.ok(all.length >= 10, `${all.length} commands`);
  for (const { path, command } of all) {
    const r = await runInProcess([...path, '--help']);
    const name = `proact ${path.join(' ')}`;
    assert.equal(r.code, 0, `${name} --help: ${r.stderr}`);
    assert.equal(r.stderr, '', `${name} --help wrote to stderr`);
    assert.ok(r.stdout.startsWith(`Usage: ${name} `), `${name} --help: ${r.stdout.split('\n')[0]}`);
    const words = (s: string) => s.replace(/\s+/g, ' ').trim();
    assert.ok(words(r.stdout).includes(words(command.description())), `${name}: description`);
    for (const o of command.options.filter((x) => !x.hidden)) assert.ok(r.stdout.includes(o.flags), `${name}: option ${o.flags}`);
    for (const sub of command.commands) assert.match(r.stdout, new RegExp(`^  ${sub.name()}\\b`, 'm'), `${name}: subcommand ${sub.name()}`);
  }
});
