import type { JWK } from 'jose';
import { DEVELOPMENT_KEY_ALGS, generateSigningKey, type DevelopmentKeyAlg, type DevelopmentSigningKey } from './keys.js';
import type { DevelopmentProviderState } from './state-file.js';

/** What the state file keeps of the keys. */
export type DevelopmentKeysSnapshot = Pick<DevelopmentProviderState, 'keys' | 'published' | 'signingKid'>;

/**
 * The provider's key ring: every key ever created (retired ones stay, so tests can still sign with
 * them), the kids published in the JWKS, and the RS256 key that signs access tokens now. Changes
 * here do not reach oidc-provider by themselves: its keystore is fixed at construction, so the
 * coordinator rebuilds the Provider after `rotate()` and `retire()`.
 */
export class DevelopmentKeys {
  /** One key per supported alg; RS256 (the first alg, like upstream) signs. */
  static async generate(): Promise<DevelopmentKeys> {
    const keys = await Promise.all(DEVELOPMENT_KEY_ALGS.map(generateSigningKey));
    return new DevelopmentKeys(keys, keys.map((key) => key.kid), keys[0]!.kid);
  }

  static restore(state: DevelopmentKeysSnapshot): DevelopmentKeys {
    return new DevelopmentKeys(state.keys, [...state.published], state.signingKid);
  }

  private readonly all = new Map<string, DevelopmentSigningKey>();

  private constructor(
    keys: DevelopmentSigningKey[],
    private published: string[],
    private currentSigningKid: string,
  ) {
    for (const key of keys) this.all.set(key.kid, key);
  }

  get signingKid(): string {
    return this.currentSigningKid;
  }

  /** Public JWKs as the JWKS endpoint publishes them (signing key first). */
  publicJwks(): JWK[] {
    return this.publishedKeys().map((key) => ({ ...key.publicJwk }));
  }

  /** Private JWKs of the published keys, for oidc-provider's keystore. */
  privateJwks(): JWK[] {
    return this.publishedKeys().map((key) => key.privateJwk);
  }

  /** The signing key, or any key by kid (retired ones too). */
  material(kid: string = this.currentSigningKid): DevelopmentSigningKey {
    const key = this.all.get(kid);
    if (!key) throw new Error(`unknown key ${kid}`);
    return key;
  }

  /** Adds a new RS256 key that signs from now on; the previous keys stay published. Returns its kid. */
  async rotate(): Promise<string> {
    const key = await generateSigningKey('RS256');
    this.all.set(key.kid, key);
    this.published.push(key.kid);
    this.currentSigningKid = key.kid;
    return key.kid;
  }

  /** Unpublishes a key; the signing key cannot be retired. */
  retire(kid: string): void {
    if (kid === this.currentSigningKid) throw new Error('cannot retire the current signing key: rotateKeys() first');
    if (!this.published.includes(kid)) throw new Error(`key ${kid} is not published`);
    this.published = this.published.filter((published) => published !== kid);
  }

  /** `mintToken`'s key: ours by kid (even retired), else the signing key for RS256, else a published key of `alg`. */
  forMinting(kid: string | undefined, alg: DevelopmentKeyAlg): DevelopmentSigningKey {
    const byKid = kid ? this.all.get(kid) : undefined;
    if (byKid) return byKid;
    if (alg === 'RS256') return this.material();
    const key = this.publishedKeys().find((candidate) => candidate.alg === alg);
    if (!key) throw new Error(`no published ${alg} key`);
    return key;
  }

  snapshot(): DevelopmentKeysSnapshot {
    return { keys: [...this.all.values()], published: [...this.published], signingKid: this.currentSigningKid };
  }

  private publishedKeys(): DevelopmentSigningKey[] {
    const signing = this.material();
    const others = this.published.filter((kid) => kid !== signing.kid).map((kid) => this.material(kid));
    return [signing, ...others];
  }
}
