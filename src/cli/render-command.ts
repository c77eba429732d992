import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { ChartdError, toChartdError } from '../errors.js';
import { renderChart } from '../render/render-chart.js';
import { JOB_DEFAULTS } from '../render/job.js';

export const RENDER_HELP = `Usage: chartd render [config.json|-] [options]

Renders one Chart.js config (JSON or a JavaScript object literal) to an image.
Reads standard input when the file is "-" or missing.

Options:
  -o, --output <file>      where to write (default: standard output)
  -f, --format <format>    png, webp, jpeg (jpg), svg, pdf, base64
                           (default: from the output file's extension, else png)
  -w, --width <px>         width in CSS pixels (default ${JOB_DEFAULTS.width})
  -H, --height <px>        height in CSS pixels (default ${JOB_DEFAULTS.height})
      --dpr <ratio>        devicePixelRatio (default ${JOB_DEFAULTS.devicePixelRatio})
  -b, --background <css>   background colour (default transparent; JPEG gets white)
      --chartjs <version>  Chart.js version: 2, 3, 4 (default: 2, or 4 for Chart.js 3+ syntax)
      --svg-text <mode>    SVG text: text (selectable <text>) or outlines (glyph paths,
                           exact without fonts) (default text)
  -h, --help               this text

Exit status: 0 on success; 2 for a bad config or option (the error code and
message go to standard error); 1 for anything else.
`;

const EXTENSION_FORMATS: Record<string, string> = {
  '.png': 'png',
  '.webp': 'webp',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.svg': 'svg',
  '.pdf': 'pdf',
  '.txt': 'base64',
};

export async function runRenderCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        format: { type: 'string', short: 'f' },
        width: { type: 'string', short: 'w' },
        height: { type: 'string', short: 'H' },
        dpr: { type: 'string' },
        background: { type: 'string', short: 'b' },
        chartjs: { type: 'string' },
        'svg-text': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`chartd render: ${(error as Error).message}\n\n${RENDER_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(RENDER_HELP);
    return 0;
  }
  try {
    if (positionals.length > 1) throw new ChartdError('PARAM_INVALID', `one config file at a time, got ${positionals.length}`);
    const input = positionals[0] ?? '-';
    const config = input === '-' ? await readStdin() : await readConfigFile(input);
    const output = values.output as string | undefined;
    const format = (values.format as string | undefined) ?? (output ? EXTENSION_FORMATS[extname(output).toLowerCase()] : undefined);
    const result = await renderChart({
      chart: config,
      format,
      width: values.width as string | undefined,
      height: values.height as string | undefined,
      devicePixelRatio: values.dpr as string | undefined,
      backgroundColor: values.background as string | undefined,
      version: values.chartjs as string | undefined,
      svgText: values['svg-text'] as string | undefined,
    });
    if (output) await writeFile(output, result.body);
    // process.exit() follows: wait until a piped stdout has taken every byte.
    else await new Promise<void>((resolve, reject) => process.stdout.write(result.body, (error) => (error ? reject(error) : resolve())));
    return 0;
  } catch (caught) {
    const error = toChartdError(caught);
    process.stderr.write(`chartd render: ${error.code}: ${error.message}\n`);
    return error.statusCode < 500 ? 2 : 1;
  }
}

async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ChartdError('PARAM_INVALID', `cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new ChartdError('CONFIG_MISSING', 'no config: pass a file, or pipe one to standard input');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
