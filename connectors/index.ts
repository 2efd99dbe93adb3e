import type { Connector } from '../src/sync/connector.ts';
import { brightspace } from './brightspace/index.ts';
import { canvas } from './canvas/index.ts';
import { csvFolder } from './csv/index.ts';
import { edfi } from './edfi/index.ts';
import { kolibri } from './kolibri/index.ts';
import { oneRoster } from './oneroster/index.ts';

/** Every connector the gateway knows, by kind. */
export const connectors: Record<string, Connector> = {
  [csvFolder.kind]: csvFolder,
  [canvas.kind]: canvas,
  [edfi.kind]: edfi,
  [kolibri.kind]: kolibri,
  [brightspace.kind]: brightspace,
  [oneRoster.kind]: oneRoster,
};
