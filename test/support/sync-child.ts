import { SecretBox } from '../../src/auth/secret-box.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openOrm } from '../../src/db/orm.ts';
import { createLogger } from '../../src/log.ts';
import { syncSource } from '../../src/sync/sources.ts';
import { fakeConnector } from './fake-connector.ts';

/** A gateway process in the middle of a sync, for the kill test: argv = database URL, secrets key, source. Prints the run id once it runs. */
const [url, key, source] = process.argv.slice(2) as [string, string, string];
const orm = await openOrm(url);
await syncSource({
  orm, box: new SecretBox(Buffer.from(key, 'base64')), connectors: { fake: fakeConnector },
  config: loadConfig({ DATA_DIR: './data/test-scheduler' }), logger: createLogger('silent'),
}, source, 'schedule', undefined, (runId) => process.stdout.write(`run ${runId}\n`));
await orm.close();
