import { connectors } from '../../connectors/index.ts';
import { secretBox } from '../auth/secret-box.ts';
import { ConfigError, type Config } from '../config/config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../log.ts';
import { getSource, listSources, saveSource, syncSource, testSource, type SourceDeps } from '../sync/sources.ts';
import { report } from './csv.ts';
import { printJson } from './output.ts';

/** `sources add|list|show|test|run`. */

export class SourcesUsageError extends Error {}

/** With DATABASE_URL there is no DATA_DIR to keep a generated key in: SECRETS_KEY must be set. */
export function requireSecretsKey(config: Config) {
  if (config.DATABASE_URL && !config.SECRETS_KEY) throw new ConfigError('Invalid configuration:\n  SECRETS_KEY: required when DATABASE_URL is set');
}

export function sourceDeps(config: Config, logger: Logger, orm: Orm): SourceDeps {
  requireSecretsKey(config);
  return { orm, box: secretBox(config), connectors, config, logger };
}

export async function sourcesCommand(deps: SourceDeps, args: string[], options: { name?: string; kind?: string; settings?: string; schedule?: string; timezone?: string; disabled?: boolean }) {
  const [action, name] = args;
  switch (action) {
    case 'add': {
      if (!options.name || !options.kind) throw new SourcesUsageError(`sources add needs --name and --kind (${Object.keys(connectors).join(', ')})`);
      let settings: Record<string, unknown>;
      try {
        settings = JSON.parse(options.settings ?? '{}') as Record<string, unknown>;
      } catch {
        throw new SourcesUsageError('--settings must be a JSON object, e.g. \'{"folder":"/srv/sis-drop"}\'');
      }
      return printJson(await saveSource(deps, { name: options.name, kind: options.kind, settings, schedule: options.schedule ?? null, timezone: options.timezone, enabled: !options.disabled }));
    }
    case 'list':
      return printJson(await listSources(deps));
    case 'show': {
      const found = name ? await getSource(deps, name) : undefined;
      if (!found) throw new SourcesUsageError(`no source named ${name ?? '(none given)'}`);
      return printJson(found);
    }
    case 'test':
      if (!name) throw new SourcesUsageError('sources test needs a source name');
      process.stdout.write(`${await testSource(deps, name)}\n`);
      return;
    case 'run': {
      if (!name) throw new SourcesUsageError('sources run needs a source name');
      const summary = await syncSource(deps, name, 'manual');
      if (!summary) {
        process.stdout.write('Nothing to do (the connector found nothing new).\n');
        return;
      }
      process.stdout.write(await report(deps.orm, summary));
      if (summary.status === 'invalid' || summary.status === 'failed') process.exitCode = 1;
      return;
    }
    default:
      throw new SourcesUsageError(`unknown sources action '${action ?? ''}'; use add, list, show, test or run`);
  }
}
