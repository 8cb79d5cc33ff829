#!/usr/bin/env node
import 'reflect-metadata';
import { runCli } from './cli.js';

// `nestjs-identity ... | head` closes stdout early: that is the reader's choice, not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const io = {
  out: (text: string) => process.stdout.write(`${text}\n`),
  err: (text: string) => process.stderr.write(`${text}\n`),
};

const code = await runCli(process.argv.slice(2), process.env, io);
process.exitCode = code;
// Anything still holding the event loop (a slow socket) must not keep the shell waiting.
setTimeout(() => process.exit(code), 2_000).unref();
