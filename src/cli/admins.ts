import { randomBytes } from 'node:crypto';
import { AdminError, createAdmin, listAdmins, unlockAdmin } from '../auth/admins.ts';
import type { Orm } from '../db/orm.ts';
import { printJson } from './output.ts';

/**
 * `admins create|list|unlock`: accounts for the admin console. The password comes from
 * RG_ADMIN_PASSWORD or the first line of standard input; without either a strong one is made and
 * printed once.
 */

export async function adminsCommand(orm: Orm, args: string[], options: { username?: string }) {
  const [action, name] = args;
  switch (action) {
    case 'create': {
      if (!options.username) throw new AdminError('admins create needs --username');
      let password = process.env.RG_ADMIN_PASSWORD;
      if (!password && !process.stdin.isTTY) password = (await readStdin()).split(/\r?\n/)[0];
      const made = !password;
      password ||= randomBytes(18).toString('base64url');
      await createAdmin(orm, options.username, password);
      process.stdout.write(`Admin ${options.username} created; sign in at /console.\n${made ? `  password (shown once): ${password}\n` : ''}`);
      return;
    }
    case 'list':
      printJson(await listAdmins(orm));
      return;
    case 'unlock':
      if (!name) throw new AdminError('admins unlock needs a username');
      if (!(await unlockAdmin(orm, name))) throw new AdminError(`no admin named ${name}`);
      process.stdout.write(`Admin ${name} unlocked.\n`);
      return;
    default:
      throw new AdminError(`unknown admins action '${action ?? ''}'; use create, list or unlock`);
  }
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}
