#!/usr/bin/env node
// The `pushworker` command: the compiled CLI. A package that a command needs and that is not installed is named
// in one line with the command that installs it. In a clone of the repository, `npm run build` compiles the CLI.
try {
  await import('../dist/src/cli/main.js');
} catch (error) {
  const message = String(error?.message);
  const missing =
    error?.code === 'ERR_MODULE_NOT_FOUND' && /Cannot find package '([^']+)'/.exec(message)?.[1];
  if (missing) console.error(`pushworker: this command needs ${missing}: npm install ${missing}`);
  else if (error?.code === 'ERR_MODULE_NOT_FOUND' && message.includes('dist/src/cli/main.js'))
    console.error('pushworker: the command is not built; run `npm run build` in the package folder');
  else throw error;
  process.exitCode = 1;
}
