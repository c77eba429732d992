import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { RunningService } from '../../src/service.js';
import { countColourPixels, decodeImage, pixelAt } from '../helpers/images.js';
import { startTestService } from '../helpers/server.js';

// The official QuickChart client, unmodified: only its host and scheme change.
const require = createRequire(import.meta.url);
const QuickChart = require('quickchart-js') as new () => QuickChartClient;

interface QuickChartClient {
  setConfig(config: unknown): QuickChartClient;
  setHost(host: string): QuickChartClient;
  setScheme(scheme: string): QuickChartClient;
  setWidth(width: number): QuickChartClient;
  setHeight(height: number): QuickChartClient;
  setBackgroundColor(color: string): QuickChartClient;
  setDevicePixelRatio(ratio: number): QuickChartClient;
  setFormat(format: string): QuickChartClient;
  setVersion(version: string): QuickChartClient;
  getUrl(): string;
  toBinary(): Promise<Buffer>;
}

describe('the official quickchart-js client against chartd', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 1 });
  });
  after(() => service.close());

  const client = () => {
    const { host } = new URL(service.url);
    return new QuickChart().setHost(host).setScheme('http');
  };
  const redBars = {
    type: 'bar',
    data: { labels: ['Q1', 'Q2', 'Q3'], datasets: [{ label: 'Users', data: [50, 60, 70], backgroundColor: 'rgb(255, 0, 0)' }] },
  };

  test('toBinary() POSTs the config as a JavaScript string and gets the PNG', async () => {
    const png = await client().setConfig(redBars).setWidth(400).setHeight(250).toBinary();
    const image = await decodeImage(png);
    // The client defaults to devicePixelRatio 1 and a white background.
    assert.equal(image.width, 400);
    assert.equal(image.height, 250);
    assert.deepEqual(pixelAt(image, 0, 0), [255, 255, 255, 255]);
    assert.ok(countColourPixels(image, [255, 0, 0], 30) > 5_000);
  });

  test('getUrl() is an embed URL chartd serves', async () => {
    const url = client().setConfig(redBars).setDevicePixelRatio(2).getUrl();
    assert.ok(url.startsWith(`${service.url}/chart?`), url);
    const response = await fetch(url, { headers: { accept: 'image/avif,image/webp,image/*,*/*;q=0.8' } });
    assert.equal(response.status, 200);
    const image = await decodeImage(Buffer.from(await response.arrayBuffer()));
    assert.equal(image.width, 1000);
  });

  test('format, version and background set on the client are honoured', async () => {
    const svg = await client().setConfig(redBars).setFormat('svg').setVersion('4').setBackgroundColor('#00ff00').toBinary();
    const text = svg.toString('utf8');
    assert.match(text, /^<\?xml|^<svg/);
    assert.match(text, /<path/);
    const image = await decodeImage(svg);
    assert.deepEqual(pixelAt(image, 1, 1).slice(0, 3), [0, 255, 0]);
  });

  test('a config with a function renders: the client sends it as JavaScript, chartd runs it in its sandbox', async () => {
    const config = {
      ...redBars,
      options: { scales: { yAxes: [{ ticks: { callback: (value: number) => `${value}%` } }] } },
    };
    const url = client().setConfig(config).getUrl();
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal((await decodeImage(Buffer.from(await response.arrayBuffer()))).format, 'png');
    const binary = await client().setConfig(config).toBinary();
    assert.equal((await decodeImage(binary)).format, 'png');
  });
});
