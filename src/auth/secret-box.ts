import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Secrets at rest (connector passwords, tokens, client secrets of upstream systems): AES-256-GCM with
 * a random IV per value, so the database holds neither the plain text nor anything that repeats. The
 * key is SECRETS_KEY (32 bytes, base64) or, in embedded mode, generated once under DATA_DIR (0600).
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes');
    this.#key = key;
  }

  seal(value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
  }

  /** The sealed value; throws when it was sealed with another key or tampered with. */
  open<T = unknown>(sealed: string): T {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return JSON.parse(Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')) as T;
  }
}

export const secretsKeyFile = (dataDir: string) => join(dataDir, 'secrets.key');

/** SECRETS_KEY, or (embedded mode) the key kept under DATA_DIR, made on first use. */
export function secretBox(config: { SECRETS_KEY?: string; DATA_DIR: string }): SecretBox {
  if (config.SECRETS_KEY) return new SecretBox(Buffer.from(config.SECRETS_KEY, 'base64'));
  const file = secretsKeyFile(config.DATA_DIR);
  if (existsSync(file)) return new SecretBox(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
  mkdirSync(config.DATA_DIR, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  return new SecretBox(key);
}
