import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { csvChunks } from '../../standards/oneroster/csv/parse.ts';

/** A file of `count` chunks of CSV rows, counting how many have been read from it. */
function file(count: number) {
  const line = 'u1,,,true,,Ada,Lovelace\r\n';
  const rowsPerChunk = Math.ceil(65_536 / line.length);
  const text = line.repeat(rowsPerChunk);
  const source = { read: 0, rows: count * rowsPerChunk };
  const stream = new Readable({
    read() {
      this.push(source.read < count ? Buffer.from(text) : null);
      source.read++;
    },
  });
  return { stream, source };
}

test('a file is read no further than the rows the consumer has asked for', async () => {
  const { stream, source } = file(200);
  const chunks = csvChunks(stream);
  const first = await chunks.next();
  expect(first.done).toBe(false);
  // The consumer is busy with its first chunk: the file must not go on flowing into memory.
  await sleep(100);
  expect(source.read).toBeLessThan(10);
  let rows = (first.value as { rows: unknown[] }).rows.length;
  for await (const chunk of chunks) rows += chunk.rows.length;
  expect(source.read).toBe(201);
  expect(rows).toBe(source.rows);
});
