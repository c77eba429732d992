import { CHARTD_VERSION } from '../version.js';

const HELP = `chartd ${CHARTD_VERSION}: Chart.js configs to PNG, WebP, JPEG, SVG, PDF, base64

Usage:
  chartd serve [options]                 run the HTTP service (QuickChart-compatible /chart)
  chartd render [config.json|-] [opts]   render one chart to a file or stdout
  chartd sign <url> --account <id> ...   print a signed chart URL (--signing-keys)
  chartd --version                       print the version
  chartd <command> --help                options of a command

Run "chartd serve --help", "chartd render --help" or "chartd sign --help" for every option.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command loads only what it needs: `serve` keeps Chart.js, Skia and libvips
    // out of the main process (they live in the render workers).
    case 'serve':
      return (await import('./serve-command.js')).runServeCommand(rest);
    case 'render':
      return (await import('./render-command.js')).runRenderCommand(rest);
    case 'sign':
      return (await import('./sign-command.js')).runSignCommand(rest);
    case '--version':
    case '-v':
      process.stdout.write(`${CHARTD_VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`chartd: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}
