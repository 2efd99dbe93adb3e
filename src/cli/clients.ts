import { createClient, listClients, revokeClient } from '../auth/clients.ts';
import { scopeFromName } from '../auth/scopes.ts';
import type { Orm } from '../db/orm.ts';
import { printJson } from './output.ts';

/** `clients create|list|revoke`: API clients for the OAuth token endpoint. */

export class ClientsUsageError extends Error {}

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export async function clientsCommand(orm: Orm, args: string[], options: { name?: string; scopes?: string; orgs?: string }) {
  const [action, id] = args;
  switch (action) {
    case 'create': {
      if (!options.name) throw new ClientsUsageError('clients create needs --name');
      const names = list(options.scopes);
      if (names.length === 0) throw new ClientsUsageError(`clients create needs --scopes, e.g. --scopes roster,roster-demographics (known: roster, roster-core, roster-demographics, gradebook, gradebook-core, gradebook.createput, gradebook.createpost, gradebook.delete, admin, edfi.read, edfi.write, edfi.<resource>.read|write)`);
      const granted = names.map((n) => {
        const scope = scopeFromName(n);
        if (!scope) throw new ClientsUsageError(`unknown scope '${n}'; known: roster, roster-core, roster-demographics, admin, edfi.read, edfi.write, edfi.<resource>.read|write, or their full URIs`);
        return scope;
      });
      const { clientId, secret } = await createClient(orm, { name: options.name, scopes: granted, orgs: list(options.orgs) });
      process.stdout.write(`Client created. The secret is shown once; keep it safe.\n  client_id:     ${clientId}\n  client_secret: ${secret}\n  scopes:        ${granted.join(' ')}\n${options.orgs ? `  orgs:          ${list(options.orgs).join(', ')} (and the orgs below them)\n` : ''}`);
      return;
    }
    case 'list':
      printJson(await listClients(orm));
      return;
    case 'revoke':
      if (!id) throw new ClientsUsageError('clients revoke needs a client id');
      if (!(await revokeClient(orm, id))) throw new ClientsUsageError(`no client ${id}`);
      process.stdout.write(`Client ${id} revoked; its tokens stop working within seconds.\n`);
      return;
    default:
      throw new ClientsUsageError(`unknown clients action '${action ?? ''}'; use create, list or revoke`);
  }
}

