import { SecretBox } from '../../src/auth/secret-box.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openOrm } from '../../src/db/orm.ts';
import { createLogger } from '../../src/log.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { fakeConnector } from './fake-connector.ts';

/** A gateway process's scheduler, for the two-process test: argv = database URL, secrets key, seconds. */
const [url, key, seconds] = process.argv.slice(2) as [string, string, string];
const orm = await openOrm(url);
const scheduler = new Scheduler({
  orm, box: new SecretBox(Buffer.from(key, 'base64')), connectors: { fake: fakeConnector },
  config: loadConfig({ DATA_DIR: './data/test-scheduler' }), logger: createLogger('silent'),
});
await scheduler.start(1);
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
await scheduler.stop();
await orm.close();
