import type { Readable } from 'node:stream';
import Papa from 'papaparse';

/**
 * RFC 4180 CSV from a stream, a chunk of rows at a time, with the physical line each row starts on
 * (a quoted field may span lines). Parsing and reading pause until the consumer asks for more, so
 * memory holds a chunk or two whatever the file size.
 */

export interface CsvChunk {
  rows: string[][];
  /** Line of each row; the first line of the file is 1. */
  lines: number[];
  /** Malformed quoting, by line. */
  errors: { line: number; message: string }[];
}

export async function* csvChunks(input: Readable): AsyncGenerator<CsvChunk> {
  // Decoding in the stream keeps multi-byte characters that straddle two chunks intact.
  input.setEncoding('utf8');
  const queue: (Papa.ParseResult<string[]> | Error | null)[] = [];
  let wake: (() => void) | undefined;
  let parser: Papa.Parser | undefined;
  const push = (item: Papa.ParseResult<string[]> | Error | null) => {
    queue.push(item);
    wake?.();
  };
  Papa.parse<string[]>(input as unknown as Papa.LocalFile, {
    delimiter: ',',
    chunk(results, p) {
      parser = p;
      // Papa's pause stops its parser, not the stream: the file went on flowing into Papa's own
      // queue of raw text (a large import held ≈100 MB of it), so the stream is paused too.
      p.pause();
      input.pause();
      push(results);
    },
    complete: () => push(null),
    error: (error: Error) => push(error),
  });
  // Papa reports input stream errors through `error`, but a destroyed stream may only emit here.
  input.once('error', (error) => push(error));

  let line = 1;
  for (;;) {
    if (queue.length === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    const item = queue.shift()!;
    if (item === null) return;
    if (item instanceof Error) throw item;
    const chunk: CsvChunk = { rows: item.data, lines: [], errors: [] };
    for (const row of item.data) {
      chunk.lines.push(line);
      line++;
      for (const cell of row) for (let i = cell.indexOf('\n'); i !== -1; i = cell.indexOf('\n', i + 1)) line++;
    }
    for (const e of item.errors) {
      if (e.type === 'Quotes') chunk.errors.push({ line: chunk.lines[e.row ?? 0] ?? line, message: quoteMessage(e.code) });
    }
    yield chunk;
    input.resume();
    parser?.resume();
  }
}

function quoteMessage(code: string) {
  return code === 'MissingQuotes'
    ? 'a quoted field is never closed (missing closing double quote)'
    : 'a double quote inside a field must be written twice ("") and the field quoted';
}
