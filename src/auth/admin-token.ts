import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The admin credential for /admin routes. Only its SHA-256 is kept: from ADMIN_TOKEN, or, in
 * embedded mode, generated once under DATA_DIR. The plain token is shown once, when it is made.
 */
export interface AdminCredential {
  verify(presented: string): boolean;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

export function credentialFromToken(token: string): AdminCredential {
  return credentialFromDigest(digest(token));
}

function credentialFromDigest(expected: Buffer): AdminCredential {
  return { verify: (presented) => timingSafeEqual(digest(presented), expected) };
}

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token.sha256');

/** Loads the stored credential, or makes one; `created` carries the plain token only when new. */
export function storedAdminCredential(dataDir: string, options: { rotate?: boolean } = {}): { credential: AdminCredential; created?: string } {
  const file = adminTokenFile(dataDir);
  if (existsSync(file) && !options.rotate) {
    return { credential: credentialFromDigest(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex')) };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = `rga_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${digest(token).toString('hex')}\n`, { mode: 0o600 });
  return { credential: credentialFromToken(token), created: token };
}
